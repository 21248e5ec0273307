"""uvloop measured both ways: ``python -m bench.loops`` (needs ``pip install uvloop``).

Alternates the stock asyncio loop and uvloop round by round in one process, for the throughput
(pre-built and JSON) and timeouts scenarios and their baselines, so that both loops see the same
minutes of a shared machine. Prints medians of 3 rounds. Not part of ``scripts/bench``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from . import common, throughput, timeouts
from .common import median

ROUNDS = 3


def _figures() -> dict[str, Callable[[], float]]:
    return {
        "throughput pre-built, SDK (msg/s)": lambda: common.run(throughput.sdk_prebuilt)[0],
        "throughput pre-built, baseline (msg/s)": lambda: common.run(throughput.baseline_prebuilt)[
            0
        ],
        "throughput JSON, SDK (msg/s)": lambda: common.run(throughput.sdk_json)[0],
        "throughput JSON, baseline (msg/s)": lambda: common.run(throughput.baseline_json)[0],
        "timeouts max delay, SDK (ms)": lambda: max(common.run(timeouts.sdk)["delays"]) * 1000,
        "timeouts max delay, baseline (ms)": lambda: (
            max(common.run(timeouts.baseline)["delays"]) * 1000
        ),
    }


def main() -> int:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        print("uvloop is not installed: .venv/bin/pip install uvloop", file=sys.stderr)
        return 1
    results: dict[tuple[str, str], list[float]] = {}
    saved = os.environ.get("WAITER_LOOP")
    try:
        for round_ in range(ROUNDS):
            common.progress(f"loops round {round_ + 1}/{ROUNDS}")
            for name, measure in _figures().items():
                for loop in ("asyncio", "uvloop"):
                    os.environ["WAITER_LOOP"] = loop
                    results.setdefault((name, loop), []).append(measure())
    finally:
        if saved is None:
            os.environ.pop("WAITER_LOOP", None)
        else:
            os.environ["WAITER_LOOP"] = saved
    print(f"{'figure':<42} {'asyncio':>12} {'uvloop':>12}  uvloop/asyncio")
    for name in _figures():
        a: Any = median(results[(name, "asyncio")])
        u: Any = median(results[(name, "uvloop")])
        print(f"{name:<42} {common.fmt(a):>12} {common.fmt(u):>12}  {u / a:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
