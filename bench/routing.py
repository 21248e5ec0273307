"""routing: cost of one message that matches no session, at 0, 1,000 and 100,000 open sessions.

The open sessions use three distinct filter kinds (``SenderSessionFilter``, ``GroupSessionFilter``,
``UserSessionFilter``, a third each), opened in bulk with
``waiter_sdk.session.waiter.open_session`` on events whose ``_context`` is the app. The app has
the built-in plugin and the bench plugin loaded (two commands, no catch-all handler), so an
ordinary chat message that no session takes is selected by no handler either and costs no task:
the figure is the whole synchronous ``app.dispatch`` of such a message (exit-word check, gates,
session routing, handler selection). 10,000 distinct pre-built messages per pass; each run
takes the fastest of 5 passes (as timeit does: on a shared machine the slower passes measure the
neighbours), and the table quotes the median over runs.

Baseline (same process and run): the bare minimum of keyed routing: build the three keys of
the message with f-strings and look each up in a dict holding as many entries as sessions open.
"""

from __future__ import annotations

import time
from typing import Any

from waiter_sdk import GroupSessionFilter, SenderSessionFilter, UserSessionFilter
from waiter_sdk.session.waiter import open_session

from . import common
from .common import Figure, median

LEVELS = (0, 1_000, 100_000)
MESSAGES = 10_000
PASSES = 5  # per run and level: the fastest pass counts (timeit practice on a shared machine)
FILTERS = (SenderSessionFilter(), GroupSessionFilter(), UserSessionFilter())


async def _noop(controller: Any, event: Any) -> None:
    return None


def _strangers(n: int) -> list[Any]:
    # Senders and groups that hold no session; half group messages, half private.
    return [
        common.text_event("hello there, how is it going", f"x{i}", f"xg{i}" if i % 2 else None)
        for i in range(n)
    ]


def _time_sdk(app: Any, events: list[Any]) -> float:
    dispatch = app.dispatch
    common.clean()
    start = time.perf_counter()
    for event in events:
        dispatch(event)
    return (time.perf_counter() - start) / len(events) * 1e6


def _time_route_only(app: Any, events: list[Any]) -> float:
    route = app.session_registry.route
    start = time.perf_counter()
    for event in events:
        route(event)
    return (time.perf_counter() - start) / len(events) * 1e6


def _time_baseline(table: dict[str, Any], events: list[Any]) -> float:
    get = table.get
    common.clean()
    start = time.perf_counter()
    for e in events:
        chat = f"g{e.group_id}" if e.group_id is not None else "p"
        get(f"sender|{e.platform}|{e.self_id}|{chat}|{e.sender_id}")
        if e.group_id is not None:
            get(f"group|{e.platform}|{e.self_id}|g{e.group_id}")
        else:
            get(f"group|{e.platform}|{e.self_id}|p{e.sender_id}")
        get(f"user|{e.platform}|{e.self_id}|{e.sender_id}")
    return (time.perf_counter() - start) / len(events) * 1e6


async def one_run() -> dict[int, tuple[float, float, float]]:
    """{sessions open: (sdk us/msg, route-only us/msg, baseline us/msg)}"""

    async def body(event: Any) -> None:
        return None

    app = await common.started_app(body)
    results: dict[int, tuple[float, float, float]] = {}
    keep: list[Any] = []
    table: dict[str, Any] = {}
    try:
        for level in LEVELS:
            while len(keep) < level:
                i = len(keep)
                flt = FILTERS[i % 3]
                event = common.text_event("hi", f"s{i}", f"sg{i}")
                event._context = app
                session = open_session(event, _noop, timeout=3600, session_filter=flt)
                keep.append(session)
                table[session.key] = session
            events = _strangers(MESSAGES)
            passes = [
                (
                    _time_sdk(app, events),
                    _time_route_only(app, events),
                    _time_baseline(table, events),
                )
                for _ in range(PASSES)
            ]
            results[level] = (
                min(p[0] for p in passes),
                min(p[1] for p in passes),
                min(p[2] for p in passes),
            )
    finally:
        await app.stop()
        for session in keep:
            if session._future.done():
                session._future.exception()  # shutdown errors nobody awaited: mark them seen
    return results


def main(runs: int = 3) -> list[Figure]:
    per_level: dict[int, list[tuple[float, float, float]]] = {level: [] for level in LEVELS}
    for run in range(runs):
        common.progress(f"routing run {run + 1}/{runs}")
        for level, values in common.run(one_run).items():
            per_level[level].append(values)
    figures = []
    zero = median([v[0] for v in per_level[0]])
    for level in LEVELS:
        sdk_runs = [v[0] for v in per_level[level]]
        sdk = median(sdk_runs)
        route = median([v[1] for v in per_level[level]])
        target, met = "", None
        if level == LEVELS[-1]:
            target = "<= 20 us and <= 2x the cost at 0"
            met = sdk <= 20 and sdk <= 2 * zero
        figures.append(
            Figure(
                "routing",
                f"nonmatching_at_{level}",
                "us/msg",
                sdk,
                median([v[2] for v in per_level[level]]),
                target,
                met,
                sdk_runs,
                [v[2] for v in per_level[level]],
                f"of which registry.route {route:.2f} us; {sdk / zero:.2f}x the cost at 0",
                "3 f-string keys + 3 dict lookups",
            )
        )
    return figures
