"""``Supervisor`` with real child processes: a small script plays the ingress and the workers
and writes what happens to it into a log file, which the test reads back.

Waiting is a bounded loop over the log's contents (the children write "ready" once their signal
handlers are in place), never a sleep standing in for a condition.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from waiter_sdk.cluster.supervisor import Supervisor

CHILD = """
import os, pathlib, signal, sys

log = pathlib.Path(os.environ["SUP_LOG"])
role = sys.argv[1]

def write(line):
    with log.open("a") as f:
        f.write(f"{role} {os.getpid()} {line}\\n")

def on_signal(sig, frame):
    write("got " + signal.Signals(sig).name)
    sys.exit(0)

signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)
marker = pathlib.Path(os.environ["SUP_LOG"] + ".died")
if role == "worker" and os.environ.get("SUP_DIE_ONCE") and not marker.exists():
    marker.touch()
    write("dying")
    sys.exit(3)
write("ready " + " ".join(sys.argv[2:]) + " id=" + os.environ.get("WAITER_CLUSTER__WORKER_ID", "-"))
if role == "ingress" and os.environ.get("SUP_INGRESS_EXITS"):
    sys.exit(5)
while True:
    signal.pause()
"""


def lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


async def wait_for_lines(log: Path, predicate, what: str) -> list[str]:
    async with asyncio.timeout(20):  # only so a broken test fails instead of hanging
        while not predicate(lines(log)):
            await asyncio.sleep(0.02)
    return lines(log)


def supervisor(tmp_path: Path, workers: int, **env: str) -> tuple[Supervisor, Path]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    log = tmp_path / "log"
    environ = {**os.environ, "SUP_LOG": str(log), **env}
    sup = Supervisor(
        workers,
        ingress_args=["--adapter", "onebot11"],
        worker_args=["--plugins", "mybot"],
        command=[sys.executable, str(script)],
        env=environ,
        restart_delay=0.05,
        stop_timeout=10,
    )
    return sup, log


def ready(found: list[str], role: str) -> list[str]:
    return [line for line in found if line.startswith(role) and " ready " in line]


async def test_a_stop_reaches_the_workers_first_then_the_ingress(tmp_path: Path) -> None:
    sup, log = supervisor(tmp_path, 2, WAITER_CLUSTER__WORKER_ID="bot")
    running = asyncio.create_task(sup.run())
    found = await wait_for_lines(
        log, lambda f: len(ready(f, "ingress")) == 1 and len(ready(f, "worker")) == 2, "ready"
    )
    assert ready(found, "ingress")[0].endswith("ready --adapter onebot11 id=bot")
    assert sorted(line.split(" ", 2)[2] for line in ready(found, "worker")) == [
        "ready --plugins mybot id=bot-0",
        "ready --plugins mybot id=bot-1",
    ]
    sup.request_stop(signal.SIGINT)
    assert await asyncio.wait_for(running, 20) == 0
    got = [line for line in lines(log) if " got " in line]
    assert [line.split()[0] for line in got] == ["worker", "worker", "ingress"]
    assert all(line.endswith("got SIGINT") for line in got)


async def test_a_worker_that_dies_is_started_again(tmp_path: Path, logs: list[str]) -> None:
    sup, log = supervisor(tmp_path, 1, SUP_DIE_ONCE="1")
    running = asyncio.create_task(sup.run())
    found = await wait_for_lines(log, lambda f: len(ready(f, "worker")) == 1, "a worker again")
    assert any(line.startswith("worker") and line.endswith("dying") for line in found)
    assert any("exited with code 3; starting it again" in line for line in logs)
    await wait_for_lines(log, lambda f: len(ready(f, "ingress")) == 1, "the ingress")
    sup.request_stop(signal.SIGTERM)
    assert await asyncio.wait_for(running, 20) == 0
    assert [line.split()[0] for line in lines(log) if " got " in line] == ["worker", "ingress"]


async def test_the_ingress_dying_stops_everything_with_its_code(
    tmp_path: Path, logs: list[str]
) -> None:
    sup, _ = supervisor(tmp_path, 2, SUP_INGRESS_EXITS="1")
    assert await asyncio.wait_for(sup.run(), 20) == 5
    assert any("the ingress exited with code 5" in line for line in logs)
