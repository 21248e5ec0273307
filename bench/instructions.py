"""instructions: CPU instructions per unit of work, counted by valgrind, for before/after checks.

Usage::

    python -m bench.instructions                 # every workload, this checkout
    python -m bench.instructions deliver routed   # some of them

Wall-clock figures on this shared machine drift by 2-3x from minute to minute, so a change to
the hot path that costs or saves a few percent cannot be seen in them. Instructions can:
``valgrind --tool=callgrind`` counts every instruction the process executes, and the count is
the same run after run for the same code, inputs and environment (``PYTHONHASHSEED=0`` fixes
the one thing Python would vary). Instructions are not time (cache misses and branch
mispredictions are not in them), so this complements ``scripts/bench``; it does not replace it.

Each workload runs twice in a child process under callgrind, at size ``n`` and ``2n``; the
difference divided by ``n`` is the cost of one unit, with interpreter start-up, imports, app
start and stop cancelled out. Under callgrind a workload runs about 50 times slower, so the
sizes are small; the whole set takes about four minutes.

Workloads (all through ``App.dispatch`` on a real asyncio loop; timeouts on a virtual clock, so
valgrind's slowness moves no deadline):

- ``deliver``: one message to an open session whose waiter calls ``keep`` (500 sessions,
  10 or 20 messages each, the 10th or 20th calling ``stop``). Unit: one delivered message.
- ``routed``: one message that no session and no handler takes, with 1,000 sessions open under
  three filters. Unit: one message.
- ``handled``: one message that reaches a plugin handler (a chain task), no session open.
  Unit: one message.
- ``timeout``: one session opened by ``/open`` whose deadline passes, the opener catching the
  ``SessionTimeoutError``. Unit: one session, from ``/open`` to its opener's return.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS: dict[str, tuple[int, str]] = {
    # name: (n, unit)
    "deliver": (10, "message"),
    "routed": (4_000, "message"),
    "handled": (2_000, "message"),
    "timeout": (1_000, "session"),
}
SESSIONS = 500


async def _deliver(n: int) -> None:
    from waiter_sdk import MessageEvent, SessionController, session_waiter

    from . import common

    @session_waiter(timeout=3600)
    async def waiter(controller: SessionController, event: MessageEvent) -> None:
        controller.keep(60, reset_timeout=True)
        if event.message_id == str(n - 1):
            controller.stop()

    done = asyncio.get_running_loop().create_future()
    finished = 0

    async def body(event: MessageEvent) -> None:
        nonlocal finished
        await waiter(event)
        finished += 1
        if finished == SESSIONS:
            done.set_result(None)

    app = await common.started_app(body)
    try:
        users = [(f"u{i}", f"g{i % 10}") for i in range(SESSIONS)]
        for u, g in users:
            app.dispatch(common.text_event("/open", u, g))
        await common.settle(app, SESSIONS)
        # Built for the larger size in both runs, so that building them cancels out.
        events = [
            common.text_event(f"m{k}", u, g, message_id=str(k))
            for k in range(2 * WORKLOADS["deliver"][0])
            for u, g in users
        ][: n * SESSIONS]
        for i in range(0, len(events), 100):
            for event in events[i : i + 100]:
                app.dispatch(event)
            await asyncio.sleep(0)
        await done
    finally:
        await app.stop()


async def _routed(n: int) -> None:
    from waiter_sdk import GroupSessionFilter, SenderSessionFilter, UserSessionFilter
    from waiter_sdk.session.waiter import open_session

    from . import common

    async def noop(controller: Any, event: Any) -> None:
        return None

    app = await common.started_app(noop)  # type: ignore[arg-type]
    try:
        filters = (SenderSessionFilter(), GroupSessionFilter(), UserSessionFilter())
        for i in range(1_000):
            event = common.text_event("/x", f"s{i}", f"sg{i}")
            event._context = app
            open_session(event, noop, timeout=3600, session_filter=filters[i % 3])
        size = 2 * WORKLOADS["routed"][0]  # built at the larger size in both runs
        events = [
            common.text_event("hello", f"x{i}", f"xg{i}" if i % 2 else None) for i in range(size)
        ]
        for event in events[:n]:
            app.dispatch(event)
    finally:
        await app.stop()


async def _handled(n: int) -> None:
    from waiter_sdk import App, MessageEvent, Plugin, on_message

    from . import common

    done = asyncio.get_running_loop().create_future()

    class Count(Plugin):
        name = "count"
        seen = 0

        @on_message()
        async def count(self, event: MessageEvent) -> None:
            Count.seen += 1
            if Count.seen == n:
                done.set_result(None)

    app = App(common.settings(), plugins=[Count])
    await app.start()
    try:
        size = 2 * WORKLOADS["handled"][0]  # built at the larger size in both runs
        # A sender each: no message waits at its sender's gate behind another.
        events = [common.text_event("hello", f"x{i}", "g") for i in range(size)]
        for i in range(0, n, 100):
            for event in events[i : min(i + 100, n)]:
                app.dispatch(event)
            await asyncio.sleep(0)
        await done
    finally:
        await app.stop()


async def _timeout(n: int) -> None:
    from waiter_sdk import MessageEvent, SessionController, session_waiter
    from waiter_sdk.testing import VirtualClock

    from . import common

    done = 0

    @session_waiter(timeout=60)
    async def waiter(controller: SessionController, event: MessageEvent) -> None:
        return None

    async def body(event: MessageEvent) -> None:
        nonlocal done
        try:
            await waiter(event)
        except TimeoutError:
            done += 1

    clock = VirtualClock.install()
    try:
        app = await common.started_app(body)
        try:
            size = 2 * WORKLOADS["timeout"][0]  # built at the larger size in both runs
            events = [common.text_event("/open", f"u{i}", f"g{i % 10}") for i in range(size)]
            for event in events[:n]:
                app.dispatch(event)
            await clock.settle()
            await clock.advance(60)
            assert done == n, done
        finally:
            await app.stop()
    finally:
        clock.uninstall()


RUNS = {"deliver": _deliver, "routed": _routed, "handled": _handled, "timeout": _timeout}


def _child(name: str, n: int) -> None:
    asyncio.run(RUNS[name](n))


def _count(name: str, n: int) -> int:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [
            valgrind,
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-m",
            "bench.instructions",
            "--child",
            name,
            str(n),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or found is None:
        raise SystemExit(f"{name} at {n} failed:\n{result.stderr[-2000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="name", help=", ".join(WORKLOADS))
    parser.add_argument("--child", nargs=2, metavar=("NAME", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return 0
    names = args.names or list(WORKLOADS)
    for name in names:
        n, unit = WORKLOADS[name]
        one, two = _count(name, n), _count(name, 2 * n)
        per = (two - one) / n
        if name == "deliver":
            per /= SESSIONS  # n is messages per session there
        print(f"instructions.{name}: {per:,.0f} instructions per {unit}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
