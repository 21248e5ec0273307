"""Crash safety: a process killed (SIGKILL) in the middle of writing loses none of the writes it
was told had succeeded, leaves no record half written and, for SQLite, a file that passes
``PRAGMA integrity_check``.

No timing: the child prints each record's number once its write has returned, and the parent
kills it after reading enough numbers, while it is still writing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from tests.storage.crash_writer import PLUGIN, Record, payload
from waiter_sdk.storage import Storage

ROOT = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).with_name("crash_writer.py")
REPORTED = 400  # numbers to read before the kill


async def run_and_kill(url: str, data_dir: Path) -> set[int]:
    """Start the writer, read ``REPORTED`` numbers, SIGKILL it; the numbers it reported."""
    errors = data_dir / "writer.stderr"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with errors.open("wb") as stderr:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            str(WRITER),
            url,
            str(data_dir),
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
    assert child.stdout is not None
    reported: set[int] = set()
    try:
        while len(reported) < REPORTED:
            # A guard against a writer that hangs, so the test fails instead of waiting
            # forever; it bounds nothing the test measures.
            line = await asyncio.wait_for(child.stdout.readline(), timeout=120)
            if not line:
                await child.wait()
                pytest.fail(f"the writer ended early: {errors.read_text()}")
            reported.add(int(line))
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGKILL)
        await child.wait()
    assert child.returncode == -signal.SIGKILL  # killed while still writing, not finished
    return reported


async def test_a_killed_writer_keeps_every_reported_write_whole(
    durable_storage_url: str, tmp_path: Path
) -> None:
    reported = await run_and_kill(durable_storage_url, tmp_path)

    if durable_storage_url.startswith("sqlite"):
        path = Path(durable_storage_url.removeprefix("sqlite:///"))
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        finally:
            conn.close()

    storage = Storage(durable_storage_url, tmp_path)
    storage.declare(PLUGIN, "user", Record)
    try:
        assert await storage.open()  # the schema the writer recorded is intact too
        owners = await storage.owners("user", PLUGIN)
        stored: dict[int, Record] = {}
        for owner in owners:
            stored[int(owner.removeprefix(f"{PLUGIN}:u"))] = await storage.load(Record, owner)
    finally:
        await storage.close()

    # Every write the writer reported is there.
    assert reported <= set(stored)
    # And every record that is there (reported, or committed just before the kill) is whole:
    # its fields were written in one step, so none is missing or left at its default.
    for number, record in stored.items():
        assert (record.number, record.payload, record.writes) == (number, payload(number), 1)
