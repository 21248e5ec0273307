"""Shared helpers of the benchmark scenarios: results, machine facts, loops, events, apps.

Every scenario returns a list of ``Figure``: one measured median, the median of a bare-asyncio
baseline measured in the same process and run, and the issue-6 target when there is one.
Wall clock is ``time.perf_counter``; where a figure compares against a session deadline, the
loop clock (``loop.time()``) is used, because that is the clock deadlines are kept in.
"""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from waiter_sdk import App, MessageChain, MessageEvent, Plain, Plugin, command
from waiter_sdk._loops import LoopChoice, choose_loop
from waiter_sdk.config import Settings

BOT_ID = "10000"
PLATFORM = "bench"

# --- figures ---------------------------------------------------------------------------------


@dataclass
class Figure:
    """One reported number: SDK median, baseline median, and the target it is held to."""

    scenario: str
    name: str
    unit: str
    value: float
    baseline: float | None = None
    target: str = ""
    # True/False when a target applies and was met / missed; None when there is no target.
    met: bool | None = None
    runs: list[float] = field(default_factory=list)
    baseline_runs: list[float] = field(default_factory=list)
    note: str = ""
    baseline_label: str = "bare asyncio"

    @property
    def ratio(self) -> float | None:
        """SDK / baseline (for a rate <1 is slower than bare asyncio; for a cost >1 is)."""
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline

    def line(self) -> str:
        parts = [f"{self.scenario}.{self.name}: {fmt(self.value)} {self.unit}"]
        if self.baseline is not None:
            parts.append(f"baseline {fmt(self.baseline)} {self.unit}")
            ratio = self.ratio
            if ratio is not None:
                parts.append(f"ratio {ratio:.2f}x")
        if self.target:
            status = "" if self.met is None else (" MET" if self.met else " MISSED")
            parts.append(f"target {self.target}{status}")
        text = "  |  ".join(parts)
        if self.note:
            text += f"  ({self.note})"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "name": self.name,
            "unit": self.unit,
            "median": self.value,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "target": self.target,
            "met": self.met,
            "runs": self.runs,
            "baseline_runs": self.baseline_runs,
            "baseline_label": self.baseline_label,
            "note": self.note,
        }


def fmt(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# --- machine -----------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        cpu = platform.processor() or "unknown"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "code": _code_version(),
        "cpu": cpu,
        "cores": f"{os.cpu_count()} logical ({usable} usable)",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
        "loop": loop_kind(),
    }


def write_json(path: str | None, script: str, info: dict[str, str], **fields: Any) -> None:
    """Write a script's figures to ``path`` (``--json``), with the machine and the command line."""
    if not path:
        return
    import json

    report = {"machine": info, "command": " ".join([f"python -m {script}", *sys.argv[1:]])}
    with open(path, "w", encoding="utf-8") as out:
        json.dump(report | fields, out, indent=2)
    print(f"wrote {path}")


def _code_version() -> str:
    """The commit measured, and whether waiter_sdk/ had uncommitted changes (read-only git)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "waiter_sdk"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    if not head:
        return "unknown"
    return head + (" + uncommitted changes in waiter_sdk/" if dirty else "")


def rss_bytes() -> int:
    """Resident set size of this process now (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# --- loops ---------------------------------------------------------------------------------------


def _loop() -> LoopChoice:
    """The loop the scenarios run on, chosen as ``App.run()`` does from ``WAITER_LOOP``
    (``--loop`` sets it), except that the bench defaults to the stock loop, so that a run's
    figures compare with earlier ones whatever is installed."""
    return choose_loop(os.environ.get("WAITER_LOOP", "asyncio"))


def loop_kind() -> str:
    """``asyncio`` or ``uvloop``: the loop the scenarios run on."""
    return _loop().name


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``main()`` on a fresh real event loop of the chosen kind (never virtual time)."""
    factory = _loop().factory
    gc.collect()
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())  # type: ignore[arg-type]


def clean() -> None:
    gc.collect()


# --- events and apps ---------------------------------------------------------------------------


def text_event(
    text: str,
    sender: str,
    group: str | None = None,
    message_id: str = "1",
    reply_to: str | None = None,
) -> MessageEvent:
    """A pre-built message event, as an adapter would hand to ``dispatch``."""
    return MessageEvent(
        platform=PLATFORM,
        self_id=BOT_ID,
        message=MessageChain._trusted((Plain(text),)),
        message_id=message_id,
        sender_id=sender,
        sender_name=sender,
        group_id=group,
        reply_to=reply_to,
        message_str=text,
    )


def settings() -> Settings:
    """Default settings (the bench runs from the repo root with no waiter.toml / .env)."""
    return Settings.load()


class Opener(Plugin):
    """The bench plugin: ``/open`` runs ``self.body(event)``, a coroutine that opens a session
    the way a plugin does (``await some_session_waiter(event)``)."""

    name = "bench"

    def __init__(self, body: Callable[[MessageEvent], Awaitable[None]]) -> None:
        self.body = body

    @command("open")
    async def open(self, event: MessageEvent) -> None:
        await self.body(event)


async def started_app(body: Callable[[MessageEvent], Awaitable[None]]) -> App:
    app = App(settings(), plugins=[Opener(body)])
    await app.start()
    return app


async def settle(app: App, expected_sessions: int, limit: float = 60.0) -> None:
    """Let handler tasks run until ``expected_sessions`` sessions are open (or fail loudly)."""
    deadline = time.perf_counter() + limit
    while len(app.session_registry) < expected_sessions:
        if time.perf_counter() > deadline:
            raise RuntimeError(
                f"only {len(app.session_registry)} of {expected_sessions} sessions opened"
            )
        await asyncio.sleep(0)


class _Window:
    """Hooks around a scenario's timed window (``bench.profile`` points them at a profiler)."""

    def __init__(self) -> None:
        self.start: Callable[[], Any] = _nothing
        self.stop: Callable[[], Any] = _nothing


def _nothing() -> None:
    return None


WINDOW = _Window()


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)
