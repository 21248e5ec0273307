"""AstrBot beside us: the bytes of one idle plugin session, measured the same way in one run.

``python -m bench.astrbot_idle --python /path/to/astrbot-venv/bin/python [--runs N]``

AstrBot is not a dependency and must not become one (it pulls in hundreds of packages, pins
its own pydantic, and writes a ``data/`` folder wherever it is imported). Install it into a
throwaway environment and point ``--python`` (or ``ASTRBOT_PYTHON``) at that interpreter::

    python3.11 -m venv /tmp/astrbot-venv && /tmp/astrbot-venv/bin/pip install astrbot

Without one, the script says so and exits 0 without measuring. Not part of ``scripts/bench``.

What is measured, per run, each in a fresh child process, as ``bench/idle.py`` does (RSS growth
over 100,000 sessions, then tracemalloc over 20,000 more; events built before either snapshot):

- ``waiter-sdk``: ``bench/idle.py``'s ``plugin`` variant: ``/open`` dispatched through the app;
  the plugin handler awaits a ``session_waiter(timeout=3600)``. Its baseline: a task awaiting a
  future plus a ``call_at`` timer (``idle.py``'s ``baseline``).
- ``AstrBot``: ``astrbot.core.utils.session_waiter.session_waiter(timeout=3600)`` awaited by a
  handler that AstrBot's own ``call_handler`` (what its star stage calls) drives, in one task per
  event, as its ``EventBus`` makes. Keys are per sender (AstrBot's ``unique_session`` form of
  ``session_id``), so 100,000 users hold 100,000 sessions. Its baseline is the same bare-asyncio
  task, future and timer measured in AstrBot's interpreter with AstrBot imported.
  This leaves out the frames of AstrBot's pipeline stages above ``call_handler`` (its scheduler's
  onion of stages): a floor for an AstrBot session, not its whole cost.

The child that measures AstrBot runs this file as a script with AstrBot's interpreter; it
imports nothing from this repository (waiter_sdk is not installed there), only the standard
library and AstrBot, in a temporary directory that takes AstrBot's ``data/``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

SESSIONS = 100_000  # RSS pass, as bench/idle.py
TRACED = 20_000  # tracemalloc pass, as bench/idle.py
ROOT = Path(__file__).resolve().parents[1]

# --- the child in AstrBot's interpreter (stdlib and AstrBot only) ------------------------------


def _rss() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _astrbot_events(n: int, tag: str) -> list[Any]:
    from astrbot.core.message.components import Plain
    from astrbot.core.platform import AstrMessageEvent
    from astrbot.core.platform.astrbot_message import AstrBotMessage, Group, MessageMember
    from astrbot.core.platform.message_type import MessageType
    from astrbot.core.platform.platform_metadata import PlatformMetadata

    meta = PlatformMetadata(name="aiocqhttp", description="bench", id="bench")
    events = []
    for i in range(n):
        group, user = f"g{i % 100}", f"{tag}u{i}"
        message = AstrBotMessage()
        message.type = MessageType.GROUP_MESSAGE
        message.self_id = "10000"
        message.session_id = f"{user}_{group}"  # unique_session: one session per sender
        message.message_id = str(i)
        message.group = Group(group_id=group)
        message.sender = MessageMember(user_id=user, nickname=user)
        message.message = [Plain("/open")]
        message.message_str = "/open"
        message.raw_message = None
        events.append(AstrMessageEvent("/open", message, meta, message.session_id))
    return events


async def _astrbot_open(events: list[Any], keep: list[Any]) -> None:
    """One task per event (AstrBot's EventBus), ``call_handler`` driving the plugin handler."""
    from astrbot.core.pipeline.context_utils import call_handler
    from astrbot.core.utils.session_waiter import session_waiter

    @session_waiter(timeout=3600)
    async def waiter(controller: Any, event: Any) -> None:
        return None

    async def body(event: Any) -> None:
        await waiter(event)

    async def handler(event: Any) -> None:  # the plugin's command handler
        await body(event)

    async def execute(event: Any) -> None:  # the pipeline's star stage, at its core
        async for _ in call_handler(event, handler):
            pass

    loop = asyncio.get_running_loop()
    for event in events:
        keep.append(loop.create_task(execute(event)))
    for _ in range(5):  # each session's keep() task, then wait_for's own inner task
        await asyncio.sleep(0)


async def _baseline_open(n: int, keep: list[Any]) -> None:
    """Bare asyncio, as bench/idle.py's ``baseline``: a task awaiting a future, a timer."""
    loop = asyncio.get_running_loop()

    async def opener(future: asyncio.Future[None]) -> None:
        try:  # noqa: SIM105  (as in bench/idle.py)
            await future
        except TimeoutError:
            pass

    def expire(future: asyncio.Future[None]) -> None:
        if not future.done():
            future.set_exception(TimeoutError())

    when = loop.time() + 3600
    for _ in range(n):
        future = loop.create_future()
        timer = loop.call_at(when, expire, future)
        keep.append((loop.create_task(opener(future)), future, timer))
    await asyncio.sleep(0)


async def _child_measure(variant: str, n: int, traced: int) -> None:
    # AstrBot in both variants, entered the way a plugin enters it (astrbot.api first: importing
    # its pipeline first runs into a circular import).
    import astrbot.api  # noqa: F401
    import astrbot.core.utils.session_waiter as sw

    result: dict[str, float] = {}
    keep: list[Any] = []
    passes = (("rss", n, "a"), ("traced", traced, "b"))
    for kind, count, tag in passes:
        events = _astrbot_events(count, tag) if variant == "astrbot" else []
        gc.collect()
        tasks_before = len(asyncio.all_tasks())
        if kind == "traced":
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
        else:
            before = _rss()
        if variant == "astrbot":
            await _astrbot_open(events, keep)
        else:
            await _baseline_open(count, keep)
        gc.collect()
        if kind == "traced":
            result["traced_per_session"] = (tracemalloc.get_traced_memory()[0] - before) / count
            tracemalloc.stop()
        else:
            result["rss_per_session"] = (_rss() - before) / count
            result["tasks_per_session"] = (len(asyncio.all_tasks()) - tasks_before) / count
    if variant == "astrbot":
        result["open_sessions"] = len(sw.USER_SESSIONS)
    print(json.dumps(result), flush=True)
    os._exit(0)  # as bench/idle.py: skip tearing down 120,000 open sessions


# --- the parent ---------------------------------------------------------------------------------


def find_python(given: str | None) -> str | None:
    """An interpreter that can import AstrBot: ``given``, ``ASTRBOT_PYTHON``, or this one."""
    for candidate in (given, os.environ.get("ASTRBOT_PYTHON"), sys.executable):
        if not candidate:
            continue
        probe = subprocess.run(
            [candidate, "-c", "import astrbot.api, astrbot.core.utils.session_waiter"],
            cwd=tempfile.gettempdir(),
            env={**os.environ, "ASTRBOT_ROOT": _astrbot_root()},
            capture_output=True,
            check=False,
        )
        if probe.returncode == 0:
            return candidate
        if candidate == given:
            raise SystemExit(f"{given} cannot import AstrBot:\n{probe.stderr.decode()[-2000:]}")
    return None


def _astrbot_root() -> str:
    root = Path(tempfile.gettempdir()) / "waiter-bench-astrbot"
    root.mkdir(exist_ok=True)
    return str(root)


def measure_astrbot(python: str, variant: str) -> dict[str, float]:
    root = _astrbot_root()
    out = subprocess.run(
        [python, __file__, "--child", variant, str(SESSIONS), str(TRACED)],
        cwd=root,
        env={**os.environ, "ASTRBOT_ROOT": root},
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"AstrBot child {variant} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _versions(python: str) -> tuple[str, str]:
    """AstrBot's version and its interpreter's Python version."""
    code = (
        "import platform; from importlib.metadata import version; "
        "print(version('astrbot'), platform.python_version())"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    astrbot, _, python_version = out.stdout.strip().partition(" ")
    return astrbot or "unknown", python_version or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.astrbot_idle", description=__doc__)
    parser.add_argument("--python", help="an interpreter with AstrBot installed")
    parser.add_argument("--runs", type=int, default=3, help="runs (median; default 3)")
    parser.add_argument("--json", metavar="PATH", help="also write every run as JSON")
    args = parser.parse_args(argv)
    python = find_python(args.python)
    if python is None:
        print(
            "skipped: AstrBot is not installed here. Install it into a throwaway venv "
            "(python3.11 -m venv /tmp/astrbot-venv && /tmp/astrbot-venv/bin/pip install astrbot) "
            "and pass --python /tmp/astrbot-venv/bin/python (or set ASTRBOT_PYTHON)."
        )
        return 0

    from . import common, idle
    from .common import Figure

    astrbot, astrbot_python = _versions(python)
    info = {
        **common.machine(),
        "astrbot": astrbot,
        "astrbot_python": f"{python} (Python {astrbot_python})",
    }
    for key, value in info.items():
        print(f"  {key}: {value}")
    if astrbot_python != platform.python_version():
        print(
            f"  warning: AstrBot runs on Python {astrbot_python}, waiter-sdk on "
            f"{platform.python_version()}: the figures are not like for like (run this script "
            "with an interpreter of the same version)"
        )
    rows: dict[str, list[dict[str, float]]] = {
        k: [] for k in ("waiter", "waiter_base", "astrbot", "astrbot_base")
    }
    for run in range(args.runs):
        common.progress(f"astrbot_idle run {run + 1}/{args.runs}")
        rows["waiter"].append(idle.measure_in_child("plugin"))
        rows["astrbot"].append(measure_astrbot(python, "astrbot"))
        rows["waiter_base"].append(idle.measure_in_child("baseline"))
        rows["astrbot_base"].append(measure_astrbot(python, "baseline"))

    def col(key: str, field: str) -> list[float]:
        return [r[field] for r in rows[key]]

    def med(key: str, field: str) -> float:
        return statistics.median(col(key, field))

    figures = []
    for field, how in (("traced_per_session", "tracemalloc"), ("rss_per_session", "RSS growth")):
        short = "traced" if field.startswith("traced") else "rss"
        for who, label in (("waiter", "waiter-sdk"), ("astrbot", f"AstrBot {astrbot}")):
            figures.append(
                Figure(
                    "astrbot_idle",
                    f"{who}_plugin_bytes_{short}",
                    "B/session",
                    med(who, field),
                    med(f"{who}_base", field),
                    "",
                    None,
                    col(who, field),
                    col(f"{who}_base", field),
                    f"{label}: whole opener (task, frames) + session, {how}",
                    f"task awaiting a future + call_at timer, in {label}'s interpreter",
                )
            )
    for who in ("waiter", "astrbot"):
        figures.append(
            Figure(
                "astrbot_idle",
                f"{who}_tasks",
                "tasks/session",
                med(who, "tasks_per_session"),
                med(f"{who}_base", "tasks_per_session"),
                "",
                None,
                col(who, "tasks_per_session"),
                col(f"{who}_base", "tasks_per_session"),
                "asyncio tasks alive per idle session",
                "one task per session",
            )
        )
    for figure in figures:
        print("  " + figure.line())
    for field, short in (("traced_per_session", "tracemalloc"), ("rss_per_session", "RSS")):
        print(
            f"  waiter-sdk / AstrBot ({short}): {med('waiter', field) / med('astrbot', field):.2f}"
        )
    common.write_json(
        args.json,
        "bench.astrbot_idle",
        info,
        runs=args.runs,
        raw=rows,
        figures=[f.as_dict() for f in figures],
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "--child":
        asyncio.run(_child_measure(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    else:
        sys.exit(main())
