"""Run the benchmark scenarios: ``python -m bench [name ...] [--runs N] [--json PATH]``.

With no names every scenario runs (startup, parse, routing, throughput, timeouts, idle). Each
prints its figures with the bare-asyncio baseline measured in the same run and the ratio
SDK/baseline. ``--loop uvloop`` runs the in-process scenarios on uvloop (when installed).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

SCENARIOS = ("startup", "parse", "routing", "throughput", "timeouts", "idle")


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="name", help=f"any of {', '.join(SCENARIOS)}")
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario (median; default 3)")
    parser.add_argument("--json", metavar="PATH", help="also write every figure and run as JSON")
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop", "auto"),
        default=None,
        help="the in-process scenarios' loop: WAITER_LOOP if set, else asyncio even when "
        "uvloop is installed, so that runs compare (auto: uvloop when installed, as run() does)",
    )
    args = parser.parse_args(argv)
    names = args.names or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    if args.loop == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            parser.error("uvloop is not installed: .venv/bin/pip install 'waiter-sdk[speed]'")
    if args.loop:
        os.environ["WAITER_LOOP"] = args.loop
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    from . import common

    info = common.machine()
    print("waiter-sdk benchmarks")
    for key, value in info.items():
        print(f"  {key}: {value}")
    print(f"  load average at start: {_loadavg()}")
    print("  ratio = SDK / baseline (rates: below 1 is slower than bare asyncio; costs: above 1)")
    print(flush=True)
    started = time.perf_counter()
    figures = []
    timings: dict[str, float] = {}
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        t0 = time.perf_counter()
        print(f"[{name}]", flush=True)
        for figure in module.main(args.runs):
            figures.append(figure)
            print("  " + figure.line(), flush=True)
        timings[name] = time.perf_counter() - t0
        print(f"  ({timings[name]:.1f} s, load average {_loadavg()})", flush=True)
    total = time.perf_counter() - started
    print(f"\ntotal {total:.1f} s")
    common.write_json(
        args.json,
        "bench",
        info,
        runs=args.runs,
        seconds=timings,
        total_seconds=total,
        figures=[f.as_dict() for f in figures],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
