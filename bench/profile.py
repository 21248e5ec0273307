"""Profile the measured window of a scenario: ``python -m bench.profile NAME [--cprofile]``.

NAME is ``throughput`` (pre-built events), ``throughput_json`` or ``timeouts``. Only the timed
window is profiled (from the first dispatch to the last opener returning; for timeouts, from
just before the common deadline to the last ``SessionTimeoutError`` delivered), via the
``common.WINDOW`` hooks. pyinstrument (``pip install pyinstrument``) prints a call tree;
``--cprofile`` prints the top functions by own time and by cumulative time instead.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from collections.abc import Callable
from typing import Any

from . import common


def _target(name: str) -> Callable[[], Any]:
    if name == "throughput":
        from .throughput import sdk_prebuilt

        return sdk_prebuilt
    if name == "throughput_json":
        from .throughput import sdk_json

        return sdk_json
    if name == "timeouts":
        from .timeouts import sdk

        return sdk
    raise SystemExit(f"unknown profile target {name!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("name", choices=("throughput", "throughput_json", "timeouts"))
    parser.add_argument("--cprofile", action="store_true", help="cProfile instead of pyinstrument")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    target = _target(args.name)

    if args.cprofile:
        profiler = cProfile.Profile()
        common.WINDOW.start = profiler.enable
        common.WINDOW.stop = profiler.disable
        common.run(target)
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.strip_dirs().sort_stats(order).print_stats(args.top)
            print(f"=== {args.name}: top {args.top} by {order} (cProfile) ===")
            print(out.getvalue())
        return 0

    try:
        from pyinstrument import Profiler
    except ImportError:
        print("pyinstrument is not installed: .venv/bin/pip install pyinstrument", file=sys.stderr)
        return 1
    sampler = Profiler(interval=0.0005, async_mode="disabled")
    common.WINDOW.start = sampler.start
    common.WINDOW.stop = sampler.stop
    common.run(target)
    print(sampler.output_text(unicode=False, color=False, show_all=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
