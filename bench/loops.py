"""uvloop measured both ways: ``python -m bench.loops [--rounds N] [--json PATH]``.

Needs uvloop (``pip install 'waiter-sdk[speed]'``; ``scripts/bench`` installs it). Measures the
throughput (pre-built and JSON) and timeouts scenarios and their baselines on the stock asyncio
loop and on uvloop, in pairs: each round runs every figure on both loops back to back, and the
loop that goes first alternates from round to round, so both loops see the same minutes of a
shared machine and neither always runs second. For each figure it prints the medians and the
paired ratio uvloop / asyncio of every round (its median and range), and how many rounds
uvloop won. Not part of ``scripts/bench``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

from . import common, throughput, timeouts
from .common import median

ROUNDS = 5
LOOPS = ("asyncio", "uvloop")

# name -> (unit, measure, higher is better)
FIGURES: dict[str, tuple[str, Callable[[], float], bool]] = {
    "throughput pre-built, SDK": (
        "msg/s",
        lambda: common.run(throughput.sdk_prebuilt)[0],
        True,
    ),
    "throughput pre-built, baseline": (
        "msg/s",
        lambda: common.run(throughput.baseline_prebuilt)[0],
        True,
    ),
    "throughput JSON, SDK": ("msg/s", lambda: common.run(throughput.sdk_json)[0], True),
    "throughput JSON, baseline": ("msg/s", lambda: common.run(throughput.baseline_json)[0], True),
    "timeouts max delay, SDK": (
        "ms",
        lambda: max(common.run(timeouts.sdk)["delays"]) * 1000,
        False,
    ),
    "timeouts max delay, baseline": (
        "ms",
        lambda: max(common.run(timeouts.baseline)["delays"]) * 1000,
        False,
    ),
}


def measure(rounds: int) -> dict[str, dict[str, list[float]]]:
    """``{figure: {"asyncio": [...], "uvloop": [...]}}``, one value per round each."""
    results: dict[str, dict[str, list[float]]] = {
        name: {loop: [] for loop in LOOPS} for name in FIGURES
    }
    saved = os.environ.get("WAITER_LOOP")
    try:
        for round_ in range(rounds):
            order = LOOPS if round_ % 2 == 0 else LOOPS[::-1]
            common.progress(f"loops round {round_ + 1}/{rounds}: {' then '.join(order)}")
            for name, (_unit, run, _higher) in FIGURES.items():
                for loop in order:
                    os.environ["WAITER_LOOP"] = loop
                    results[name][loop].append(run())
    finally:
        if saved is None:
            os.environ.pop("WAITER_LOOP", None)
        else:
            os.environ["WAITER_LOOP"] = saved
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loops", description=__doc__)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"default {ROUNDS}")
    parser.add_argument("--json", metavar="PATH", help="also write every round as JSON")
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        print("uvloop is not installed: pip install 'waiter-sdk[speed]'", file=sys.stderr)
        return 1
    info = {**common.machine(), "loop": "asyncio and uvloop, paired", "uvloop": uvloop.__version__}
    for key, value in info.items():
        print(f"  {key}: {value}")
    started = time.perf_counter()
    results = measure(args.rounds)
    total = time.perf_counter() - started
    print(f"\n{args.rounds} paired rounds, {total:.0f} s")
    print(
        f"{'figure':<40} {'asyncio':>10} {'uvloop':>10}  "
        f"{'uvloop/asyncio: median (range)':<32} uvloop better"
    )
    rows = []
    for name, (unit, _run, higher) in FIGURES.items():
        a, u = results[name]["asyncio"], results[name]["uvloop"]
        ratios = [y / x for x, y in zip(a, u, strict=True)]
        wins = sum((r > 1) if higher else (r < 1) for r in ratios)
        spread = f"{median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
        print(
            f"{name + ' (' + unit + ')':<40} {common.fmt(median(a)):>10} "
            f"{common.fmt(median(u)):>10}  {spread:<32} {wins}/{len(ratios)}"
        )
        rows.append(
            {
                "figure": name,
                "unit": unit,
                "higher_is_better": higher,
                "asyncio_runs": a,
                "uvloop_runs": u,
                "asyncio_median": median(a),
                "uvloop_median": median(u),
                "ratios": ratios,
                "uvloop_better_rounds": wins,
            }
        )
    common.write_json(
        args.json, "bench.loops", info, rounds=args.rounds, total_seconds=total, figures=rows
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
