"""startup: ``import waiter_sdk`` time and RSS in a bare interpreter; ``App`` start to first event.

Each run starts a fresh interpreter with ``python -c``, which:

1. times ``import waiter_sdk`` (baseline: ``import asyncio``) with ``time.perf_counter`` around
   the import statement alone, before anything else is imported: the interpreter has loaded only
   what it loads for ``python -c pass`` (``sys``, ``time``, ``os``, ``site`` ...), so the figure
   includes ``json``, ``subprocess``, ``pathlib`` and every other module the SDK pulls in, as a
   bot's ``import waiter_sdk`` pays them. The child reports the modules it had before the import
   and the run fails if any is not in a bare interpreter's own list. It reads the process RSS
   right after the import;
2. then imports ``bench.startup`` and times, from before ``App(plugins=[...])`` (default
   settings: ``Settings.load()``) through ``await app.start()`` and ``app.dispatch(/open)`` to
   the plugin handler running (baseline: a loop that starts, creates the task that handles an
   event, and runs it), including the ``asyncio.run`` loop start-up in both.

Bytecode: the figure that is held to the target runs with a warm bytecode cache (a separate
cache directory via ``PYTHONPYCACHEPREFIX``, filled by one uncounted warm-up run), as an installed
wheel would have. This environment sets ``PYTHONDONTWRITEBYTECODE=1`` and the editable checkout
has no ``__pycache__``, so an import "as is" compiles the package every time; that figure is
reported as well.

The child was once ``python -m bench.startup``, whose own imports (json, subprocess, pathlib,
tempfile) came before the timed import, so the SDK's figure left those out (113 against 145 ms
in issue 11's run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(tempfile.gettempdir()) / "waiter-bench-pycache"


# The child's whole program up to the timed import: nothing but what ``python -c`` has loaded
# (sys and time are among those) comes before it.
_TIMED = """\
import sys, time
loaded = sorted(sys.modules)
start = time.perf_counter()
import {module}
imported = time.perf_counter() - start
with open("/proc/self/status", encoding="ascii") as status:
    rss = [int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:")][0]
from bench.startup import _after_import
_after_import({kind!r}, imported, rss, loaded)
"""
_BARE = "import sys; print(' '.join(sorted(sys.modules)))"
MODULES = {"sdk": "waiter_sdk", "baseline": "asyncio"}


def _after_import(kind: str, imported: float, rss: int, loaded: list[str]) -> None:
    """The child, after its timed import: App start to the first event handled; report."""
    import asyncio

    if kind == "sdk":
        from waiter_sdk import App, MessageChain, MessageEvent, Plain, Plugin, command

        class First(Plugin):
            name = "first"

            def __init__(self, seen: asyncio.Future[float]) -> None:
                self.seen = seen

            @command("open")
            async def open(self, event: MessageEvent) -> None:
                self.seen.set_result(time.perf_counter())

        async def main() -> float:
            seen: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            app = App(plugins=[First(seen)])
            await app.start()
            try:
                app.dispatch(
                    MessageEvent(
                        platform="bench",
                        self_id="1",
                        message=MessageChain([Plain("/open")]),
                        message_id="1",
                        sender_id="u",
                    )
                )
                return await seen
            finally:
                await app.stop()

    else:

        async def main() -> float:
            seen: asyncio.Future[float] = asyncio.get_running_loop().create_future()

            async def handler(event: dict[str, str]) -> None:
                seen.set_result(time.perf_counter())

            task = asyncio.get_running_loop().create_task(handler({"text": "/open"}))
            result = await seen
            await task
            return result

    begin = time.perf_counter()
    first = asyncio.run(main())
    print(
        json.dumps(
            {"import_s": imported, "rss": rss, "first_event_s": first - begin, "loaded": loaded}
        )
    )


def _env(warm: bool) -> dict[str, str]:
    env = dict(os.environ)
    if warm:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(CACHE)
    return env


def _python(code: str, warm: bool) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_env(warm),
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"startup child failed:\n{out.stderr}")
    return out.stdout.strip().splitlines()[-1]


_bare: dict[bool, frozenset[str]] = {}


def bare_modules(warm: bool) -> frozenset[str]:
    """What ``python -c pass`` has loaded before its first statement, in this environment."""
    if warm not in _bare:
        _bare[warm] = frozenset(_python(_BARE, warm).split())
    return _bare[warm]


def measure(kind: str, warm: bool) -> dict[str, Any]:
    """One fresh interpreter: import time and RSS of ``kind``, then its first event."""
    result = json.loads(_python(_TIMED.format(module=MODULES[kind], kind=kind), warm))
    early = sorted(set(result["loaded"]) - bare_modules(warm))
    if early:
        raise RuntimeError(f"the child imported {', '.join(early)} before the timed import")
    return result


def main(runs: int = 3) -> list:  # type: ignore[type-arg]
    from . import common
    from .common import Figure, median

    runs = max(runs, 5)  # cheap: several fresh interpreters, median
    common.progress(f"startup: {runs} fresh interpreters per figure")
    measure("sdk", warm=True)  # fill the bytecode cache; not counted
    measure("baseline", warm=True)
    sdk: list[dict[str, Any]] = []
    base: list[dict[str, Any]] = []
    for run in range(runs):  # interleaved, each going first in turn: the machine drifts
        for kind in ("sdk", "baseline") if run % 2 == 0 else ("baseline", "sdk"):
            (sdk if kind == "sdk" else base).append(measure(kind, warm=True))
    as_is = [measure("sdk", warm=False) for _ in range(3)]

    def col(rows: list[dict[str, float]], key: str, scale: float) -> list[float]:
        return [r[key] * scale for r in rows]

    imp = median(col(sdk, "import_s", 1000))
    rss = median(col(sdk, "rss", 1 / 2**20))
    return [
        Figure(
            "startup",
            "import_time",
            "ms",
            imp,
            median(col(base, "import_s", 1000)),
            "<= 150 ms",
            imp <= 150,
            col(sdk, "import_s", 1000),
            col(base, "import_s", 1000),
            f"bare interpreter ({len(bare_modules(True))} modules of python -c before it); "
            f"fastest run {min(col(sdk, 'import_s', 1000)):.0f} ms against "
            f"{min(col(base, 'import_s', 1000)):.0f} ms; warm bytecode cache; "
            f"as-is environment (no bytecode cache): "
            f"{median(col(as_is, 'import_s', 1000)):.0f} ms",
            "import asyncio",
        ),
        Figure(
            "startup",
            "import_rss",
            "MiB",
            rss,
            median(col(base, "rss", 1 / 2**20)),
            "<= 40 MB",
            rss * 2**20 <= 40e6,
            col(sdk, "rss", 1 / 2**20),
            col(base, "rss", 1 / 2**20),
            "whole-process RSS after the import",
            "interpreter + import asyncio",
        ),
        Figure(
            "startup",
            "app_start_to_first_event",
            "ms",
            median(col(sdk, "first_event_s", 1000)),
            median(col(base, "first_event_s", 1000)),
            "",
            None,
            col(sdk, "first_event_s", 1000),
            col(base, "first_event_s", 1000),
            "App(...) with default Settings.load(), start(), dispatch, handler runs",
            "asyncio.run + one task handling one event",
        ),
    ]


if __name__ == "__main__":
    for figure in main():
        print(figure.line())
