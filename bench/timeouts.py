"""timeouts: 10,000 sessions with the same deadline; delay from the deadline to each opener
receiving ``SessionTimeoutError`` (median, p99, max).

Sessions are opened the way a plugin does: ``/open`` is dispatched for 10,000 users; each handler
waits for a shared "go" signal, then opens a ``session_waiter`` whose timeout is chosen so that its
deadline is the common instant ``T`` (``timeout = T - loop.time()``). ``T`` is 0.5 s after "go"
plus an allowance of 60 us per session for the openings themselves (1.1 s for 10,000), so every
timeout is short and real; a session that opened after ``T`` would be counted and reported. The exact deadline of each session is read from the app's
``session_opened`` listener (``controller.deadline``), and the handler that catches
``SessionTimeoutError`` records ``loop.time() - deadline``: the loop clock, the clock deadlines
live in.

Baseline (same process and run): 10,000 tasks, each awaiting its own future; one ``call_at(T)``
timer per future sets ``TimeoutError``; each task records ``loop.time() - T``.

A second baseline, ``chain``, is the same with the future awaited four coroutine frames below
the task, the depth at which a plugin's opener awaits a session here (the bus's handler runner,
the plugin handler, the helper the bench's handler calls, the waiter call): bare asyncio, but
with the exception climbing as many frames as it does in the SDK.
"""

from __future__ import annotations

import asyncio
from typing import Any

from waiter_sdk import SessionTimeoutError, session_waiter

from . import common
from .common import Figure, median, percentile

SESSIONS = 10_000
TIMEOUT = 0.5  # from the moment every session is open to the common deadline
OPEN_ALLOWANCE = 60e-6  # seconds per session allowed for opening them all before T
CHAIN = 4  # coroutine frames between the task and the awaited future, as for a plugin opener


async def _noop(controller: Any, event: Any) -> None:
    return None


async def sdk(n: int = SESSIONS) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    go: asyncio.Future[float] = loop.create_future()
    deadlines: dict[int, float] = {}  # id(opening event) -> that session's deadline
    delays: list[float] = []
    late_open = 0
    all_done = loop.create_future()

    async def body(event: Any) -> None:
        nonlocal late_open
        target = await go
        timeout = target - loop.time()
        if timeout <= 0:
            late_open += 1
        waiter = session_waiter(timeout=timeout)(_noop)
        try:
            await waiter(event)
        except SessionTimeoutError:
            delays.append(loop.time() - deadlines[id(event)])
        if len(delays) + late_open == n and not all_done.done():
            all_done.set_result(None)

    app = await common.started_app(body)
    app.listen("session_opened", lambda s: deadlines.__setitem__(id(s.event), s.deadline))
    try:
        for i in range(n):
            app.dispatch(common.text_event("/open", f"u{i}", f"g{i % 100}"))
        for _ in range(3):
            await asyncio.sleep(0)
        common.clean()
        target = loop.time() + TIMEOUT + n * OPEN_ALLOWANCE
        go.set_result(target)
        await common.settle(app, n)
        opened_by = loop.time()
        loop.call_at(target - 0.002, common.WINDOW.start)
        await asyncio.wait_for(all_done, 30)
        common.WINDOW.stop()
    finally:
        await app.stop()
    spread = max(deadlines.values()) - min(deadlines.values())
    return {
        "delays": delays,
        "late_open": late_open,
        "margin": target - opened_by,
        "spread": spread,
    }


async def baseline(n: int = SESSIONS, depth: int = 1) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    delays: list[float] = []
    target = loop.time() + TIMEOUT + n * OPEN_ALLOWANCE

    async def awaiting(future: asyncio.Future[None], frames: int) -> None:
        if frames <= 1:
            await future
        else:
            await awaiting(future, frames - 1)

    async def opener(future: asyncio.Future[None]) -> None:
        try:
            await awaiting(future, depth - 1) if depth > 1 else await future
        except TimeoutError:
            delays.append(loop.time() - target)

    def expire(future: asyncio.Future[None]) -> None:
        if not future.done():
            future.set_exception(TimeoutError())

    tasks = []
    for _ in range(n):
        future = loop.create_future()
        loop.call_at(target, expire, future)
        tasks.append(loop.create_task(opener(future)))
    common.clean()
    await asyncio.gather(*tasks)
    return {"delays": delays, "late_open": 0, "margin": 0.0, "spread": 0.0}


def _stats(delays: list[float]) -> tuple[float, float, float]:
    ms = [d * 1000 for d in delays]
    return median(ms), percentile(ms, 99), max(ms)


def main(runs: int = 3) -> list[Figure]:
    sdk_stats: list[tuple[float, float, float]] = []
    base_stats: list[tuple[float, float, float]] = []
    chain_stats: list[tuple[float, float, float]] = []
    notes: list[str] = []
    margins: list[float] = []
    for run in range(runs):
        common.progress(f"timeouts run {run + 1}/{runs}")
        result = common.run(sdk)
        if result["late_open"] or len(result["delays"]) != SESSIONS:
            notes.append(
                f"run {run + 1}: {result['late_open']} sessions opened after the deadline, "
                f"{len(result['delays'])} timeouts seen"
            )
        margins.append(result["margin"])
        sdk_stats.append(_stats(result["delays"]))
        base_stats.append(_stats(common.run(baseline)["delays"]))
        chain_stats.append(_stats(common.run(lambda: baseline(depth=CHAIN))["delays"]))
    figures = []
    for index, name in enumerate(("median", "p99", "max")):
        sdk_runs = [s[index] for s in sdk_stats]
        value = median(sdk_runs)
        figures.append(
            Figure(
                "timeouts",
                f"delay_{name}",
                "ms",
                value,
                median([s[index] for s in base_stats]),
                "every one <= 50 ms" if name == "max" else "",
                (value <= 50) if name == "max" else None,
                sdk_runs,
                [s[index] for s in base_stats],
                "; ".join(
                    [f"last session opened {median(margins):.2f} s before the deadline", *notes]
                )
                if name == "max"
                else "",
                "tasks awaiting futures, one call_at each",
            )
        )
    chain_max = [s[2] for s in chain_stats]
    figures.append(
        Figure(
            "timeouts",
            "chain_delay_max",
            "ms",
            median(chain_max),
            median([s[2] for s in base_stats]),
            runs=chain_max,
            baseline_runs=[s[2] for s in base_stats],
            note=f"bare asyncio, the future awaited {CHAIN} coroutine frames down, as in the SDK",
            baseline_label="tasks awaiting futures, one call_at each",
        )
    )
    return figures
