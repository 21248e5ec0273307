"""storage: observe + increment + write-back per message, against the raw driver doing the same.

Every message is a ``/score`` command from one of 1,000 users in 50 groups. Its handler calls
``event.observe_user(Stats)`` (one read), adds 1 to a ``Counter`` and returns, and the bus
writes the change back (one atomic increment). The clock runs from the first dispatch until the
last write-back has returned. Dispatch is in batches of 100 with one loop turn between, as a
socket reader hands over frames.

- ``sqlite``: the default backend, a WAL file in a temporary directory. Baseline: the
  standard library's ``sqlite3`` on the calling thread doing the same read and increment per
  message, each committed on its own (the same durability: WAL, ``synchronous=NORMAL``), with
  no asyncio in between.
- ``redis``: a redis-server this script starts on a free loopback port (skipped if
  ``redis-server`` or redis-py is missing). Baseline: redis-py's asyncio client doing the same
  read (``HGETALL``) and increment (``HINCRBY``) per message, 100 messages in flight at a time.
- ``memory`` and ``none``: the same app on the memory backend, and with a handler that observes
  nothing, so that the SDK's own cost per message shows apart from the database's.

Run: ``python -m bench.storage [--runs N] [--messages N] [--json PATH]``, or ``python -m bench
storage``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from waiter_sdk import App, MessageEvent, Plugin, command

from . import common
from .common import Figure, median

USERS = 1_000
GROUPS = 50
MESSAGES = 20_000
BATCH = 100


def _stats_model() -> type:
    # Imported here: importing the bench package must not import the storage package.
    from waiter_sdk.storage import Counter, Fields

    class Stats(Fields):
        points: Counter = 0
        title: str = ""

    return Stats


class Scorer(Plugin):
    name = "scorer"

    def __init__(self, observe: bool) -> None:
        self.observe = observe
        self.handled = 0

    @command("score")
    async def score(self, event: MessageEvent) -> None:
        try:
            if self.observe:
                me = await event.observe_user()
                me.points += 1
        finally:
            # Counted even if it failed, so the run ends; the totals check below tells.
            self.handled += 1


def _events(n: int) -> list[MessageEvent]:
    return [
        common.text_event("/score", str(100_000 + i % USERS), str(500 + i % GROUPS), str(i))
        for i in range(n)
    ]


async def sdk(address: str, n: int, observe: bool = True, window: float = 0.0) -> float:
    """Messages per second through dispatch, with the write-backs done.

    ``window`` is ``session.order_window``. It is 0 by default here: with the sender gate on,
    a user's next message waits for their previous one's handler, and every later message
    waits behind it at that handler (arrival order, API section 4), so a burst in which each
    user has several messages in flight runs its handlers nearly one after another, and the
    figure would measure that order instead of the storage. ``--order-window 2`` shows it.
    """
    stats = _stats_model()
    Scorer.user_fields = stats if observe else None
    plugin = Scorer(observe)
    if address.startswith("redis"):
        await _flush_redis(address)  # each run counts from zero
    from waiter_sdk.config import SessionSettings

    settings = common.settings().model_copy(
        update={"storage": address, "session": SessionSettings(order_window=window)}
    )
    app = App(settings, plugins=[plugin])
    await app.start()
    try:
        if observe:
            await app.storage.check_schema("scorer")  # opened before the clock starts
        events = _events(n)
        dispatch = app.dispatch
        storage = app.storage
        common.clean()
        start = time.perf_counter()
        for i in range(0, n, BATCH):
            for event in events[i : i + BATCH]:
                dispatch(event)
            await asyncio.sleep(0)
        while plugin.handled < n or storage._busy:
            waiting = storage.pending()
            if waiting is not None:
                await waiting
            else:
                await asyncio.sleep(0)
        elapsed = time.perf_counter() - start
        if observe:
            async with storage.user(common.PLATFORM, "100000", stats) as first:
                expected = len(range(0, n, USERS))  # messages i with i % USERS == 0
                if first.points != expected:  # type: ignore[attr-defined]
                    raise RuntimeError(f"lost increments: {first.points} != {expected}")  # type: ignore[attr-defined]
    finally:
        await app.stop()
    return n / elapsed


async def _flush_redis(url: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


def raw_sqlite(path: Path, n: int) -> float:
    """The driver alone: read the user's fields, add 1, commit, per message."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS records (owner TEXT, field TEXT, value NOT NULL, "
        "PRIMARY KEY (owner, field)) WITHOUT ROWID"
    )
    owners = [f"bench:{100_000 + i % USERS}" for i in range(n)]
    start = time.perf_counter()
    for owner in owners:
        conn.execute("SELECT field, value FROM records WHERE owner = ?", (owner,)).fetchall()
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO records VALUES (?, 'points', 1) "
            "ON CONFLICT (owner, field) DO UPDATE SET value = value + 1",
            (owner,),
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


async def raw_redis(url: str, n: int) -> float:
    """redis-py alone: HGETALL then HINCRBY per message, BATCH messages in flight."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        await client.flushdb()
        owners = [f"bench:{100_000 + i % USERS}" for i in range(n)]

        async def one(owner: str) -> None:
            await client.hgetall(owner)
            await client.hincrby(owner, "points", 1)

        start = time.perf_counter()
        for i in range(0, n, BATCH):
            await asyncio.gather(*(one(owner) for owner in owners[i : i + BATCH]))
        elapsed = time.perf_counter() - start
    finally:
        await client.aclose()
    return n / elapsed


@contextlib.contextmanager
def redis_server() -> Iterator[str | None]:
    """A throwaway redis-server on a free loopback port, or None if it cannot run here."""
    binary = shutil.which("redis-server")
    try:
        import redis  # noqa: F401

        import waiter_sdk.storage.redis  # noqa: F401
    except ImportError:
        binary = None
    if binary is None:
        yield None
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", folder],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.perf_counter() + 10
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                if time.perf_counter() > deadline:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait()


def main(runs: int = 3, messages: int = MESSAGES, window: float = 0.0) -> list[Figure]:
    rows: dict[str, list[float]] = {
        k: [] for k in ("none", "memory", "sqlite", "raw_sqlite", "redis", "raw_redis")
    }
    with redis_server() as redis_url:
        for run in range(runs):
            common.progress(f"storage run {run + 1}/{runs}")
            rows["none"].append(common.run(lambda: sdk("memory", messages, False, window)))
            rows["memory"].append(common.run(lambda: sdk("memory", messages, True, window)))
            with tempfile.TemporaryDirectory() as folder:
                address = f"sqlite:///{Path(folder) / 'sdk.db'}"
                rows["sqlite"].append(common.run(lambda a=address: sdk(a, messages, True, window)))
                rows["raw_sqlite"].append(raw_sqlite(Path(folder) / "raw.db", messages))
            if redis_url is not None:
                rows["redis"].append(common.run(lambda: sdk(redis_url, messages, True, window)))
                rows["raw_redis"].append(common.run(lambda: raw_redis(redis_url, messages)))
    note = (
        f"{messages:,} messages from {USERS:,} users in {GROUPS} groups, batches of {BATCH}, "
        f"order_window {window:g}"
    )
    figures = [
        Figure(
            "storage",
            "sqlite",
            "msg/s",
            median(rows["sqlite"]),
            median(rows["raw_sqlite"]),
            runs=rows["sqlite"],
            baseline_runs=rows["raw_sqlite"],
            note=note + "; baseline: sqlite3 alone, one commit per message",
            baseline_label="raw sqlite3",
        ),
        Figure(
            "storage",
            "memory",
            "msg/s",
            median(rows["memory"]),
            median(rows["none"]),
            runs=rows["memory"],
            baseline_runs=rows["none"],
            note="the memory backend; baseline: the same app, handler observing nothing",
            baseline_label="no storage",
        ),
    ]
    if rows["redis"]:
        figures.append(
            Figure(
                "storage",
                "redis",
                "msg/s",
                median(rows["redis"]),
                median(rows["raw_redis"]),
                runs=rows["redis"],
                baseline_runs=rows["raw_redis"],
                note=note + "; baseline: redis-py alone, HGETALL + HINCRBY per message",
                baseline_label="raw redis-py",
            )
        )
    else:
        common.progress("storage.redis skipped: redis-server or redis-py is not installed")
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.storage", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=MESSAGES)
    parser.add_argument("--order-window", type=float, default=0.0, dest="window")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    found = main(args.runs, args.messages, args.window)
    for figure in found:
        print(figure.line())
    common.write_json(args.json, "storage", common.machine(), figures=[f.as_dict() for f in found])
    sys.exit(0)
