"""parse: OneBot v11 frames per second into events, array and CQ-string messages.

Uses the OneBot v11 adapter's own decoder and parser, ``wire.loads`` then
``waiter_sdk.adapters.onebot11.events.parse_event``, as the adapter's socket reader does. 5,000
group-message frames per pass, a realistic mix: plain text, a mention, a quote plus a mention of
the bot, an image. Each run takes the fastest of 3 passes; the table quotes the median over runs.

Figures: ``array`` and ``cq`` (frames/s, ``wire.loads`` + ``parse_event``);
``array_parse_only`` (``parse_event`` on decoded dicts); ``array_stdlib`` (``json.loads`` +
``parse_event``: what the C decoder buys).

Baseline (same process and run): ``orjson.loads`` plus building a minimal slotted event (the same
fields read straight from the dict, no components): decoding is the floor any parser pays. For
``array_stdlib`` the baseline decodes with ``json.loads`` too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import orjson

from waiter_sdk.adapters.onebot11 import wire
from waiter_sdk.adapters.onebot11.events import parse_event

from . import common
from .common import Figure, median
from .frames import MIX, group_frame

FRAMES = 5_000
PASSES = 3


def frames(cq: bool) -> list[str]:
    return [
        group_frame(
            100_000 + i % 5000,
            500_000 + i % 100,
            i,
            f"message number {i}",
            cq=cq,
            extra=MIX[i % len(MIX)],
        )
        for i in range(FRAMES)
    ]


class _Bare:
    __slots__ = ("group_id", "message", "message_id", "self_id", "sender_id", "text", "time")

    def __init__(self, p: dict[str, Any]) -> None:
        self.self_id = str(p["self_id"])
        self.message_id = str(p["message_id"])
        self.sender_id = str(p["user_id"])
        self.group_id = str(p["group_id"])
        self.time = float(p["time"])
        self.message = p["message"]
        self.text = p["raw_message"]


def _rate(fn: Callable[[Any], Any], items: list[Any]) -> float:
    best = float("inf")
    for _ in range(PASSES):
        common.clean()
        start = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - start)
    return len(items) / best


def one_run() -> dict[str, float]:
    loads, floor, stdlib = wire.loads, orjson.loads, json.loads
    out: dict[str, float] = {}
    array, cq = frames(False), frames(True)
    out["array"] = _rate(lambda f: parse_event(loads(f)), array)
    out["cq"] = _rate(lambda f: parse_event(loads(f)), cq)
    out["array_parse_only"] = _rate(parse_event, [loads(f) for f in array])
    out["array_stdlib"] = _rate(lambda f: parse_event(stdlib(f)), array)
    out["base_array"] = _rate(lambda f: _Bare(floor(f)), array)
    out["base_cq"] = _rate(lambda f: _Bare(floor(f)), cq)
    out["base_parse_only"] = _rate(_Bare, [loads(f) for f in array])
    out["base_stdlib"] = _rate(lambda f: _Bare(stdlib(f)), array)
    return out


def main(runs: int = 3) -> list[Figure]:
    results = []
    for run in range(runs):
        common.progress(f"parse run {run + 1}/{runs}")
        results.append(one_run())

    def figure(name: str, base: str, note: str, baseline_label: str) -> Figure:
        runs = [r[name] for r in results]
        baseline_runs = [r[base] for r in results]
        return Figure(
            "parse",
            name,
            "frames/s",
            median(runs),
            median(baseline_runs),
            runs=runs,
            baseline_runs=baseline_runs,
            note=note,
            baseline_label=baseline_label,
        )

    fast, stdlib = "orjson.loads + minimal event", "json.loads + minimal event"
    return [
        figure("array", "base_array", "wire.loads (orjson) + parse_event", fast),
        figure("cq", "base_cq", "wire.loads (orjson) + parse_event (CQ string)", fast),
        figure(
            "array_parse_only",
            "base_parse_only",
            "parse_event on decoded dicts",
            "minimal event from the dict",
        ),
        figure("array_stdlib", "base_stdlib", "json.loads + parse_event", stdlib),
    ]
