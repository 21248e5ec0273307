"""throughput: 10,000 sessions x 10 messages through ``App.dispatch``.

Sessions are opened the way a plugin does: a ``/open`` command is dispatched per user and the
bench plugin's handler awaits a ``session_waiter``. The waiter calls
``keep(60, reset_timeout=True)`` on every message and ``stop()`` on the 10th. Messages go out
round-robin (message 1 of every user, then message 2, ...), ``BATCH`` dispatches at a time
followed by one loop turn, as a socket reader with a buffer of frames would. The clock runs from
the first dispatch until the last opener has returned.

- ``prebuilt``: ``MessageEvent`` objects built before the clock starts.
- ``json``: OneBot v11 JSON frames (array messages): the adapter's ``wire.loads`` (orjson) then
  its ``deliver_payload`` (dedup, ``parse_event``, ``app.dispatch``), the path its socket reader
  takes. The sessions are opened by ``/open`` frames through the same path.

Baseline (same process, same run): a dict lookup (key built from the event's fields) plus a
direct coroutine call per message; the "waiter" counts, moves a deadline, and on the 10th
message removes the entry and resolves the opener's future (one task per opener). From JSON the
baseline decodes each frame with ``orjson.loads``, the same C decoder the adapter uses.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson

from waiter_sdk import MessageEvent, SessionController, session_waiter
from waiter_sdk.adapters.onebot11 import wire

from . import common
from .common import Figure, median
from .frames import SELF_ID, group_frame

SESSIONS = 10_000
MESSAGES = 10
GROUPS = 100
BATCH = 100


def _users(n: int) -> list[tuple[int, int]]:
    return [(100_000 + i, 500_000 + i % GROUPS) for i in range(n)]


def _make_waiter(n_msgs: int) -> Any:
    counts: dict[SessionController, int] = {}

    @session_waiter(timeout=60)
    async def conversation(controller: SessionController, event: MessageEvent) -> None:
        n = counts.get(controller, 0) + 1
        counts[controller] = n
        controller.keep(60, reset_timeout=True)
        if n == n_msgs:
            controller.stop()

    return conversation


def _opener(n_sessions: int, waiter: Any) -> tuple[Callable[..., Any], asyncio.Future[None]]:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    finished = 0

    async def body(event: MessageEvent) -> None:
        nonlocal finished
        await waiter(event)
        finished += 1
        if finished == n_sessions:
            done.set_result(None)

    return body, done


async def sdk_prebuilt(
    n_sessions: int = SESSIONS, n_msgs: int = MESSAGES, batch: int = BATCH
) -> tuple[float, float]:
    """Messages per second (wall, CPU) through dispatch with pre-built events."""
    body, done = _opener(n_sessions, _make_waiter(n_msgs))
    app = await common.started_app(body)
    try:
        users = [(str(u), str(g)) for u, g in _users(n_sessions)]
        for u, g in users:
            app.dispatch(common.text_event("/open", u, g))
        await common.settle(app, n_sessions)
        events = [
            common.text_event(f"m{k}", u, g, message_id=str(k))
            for k in range(n_msgs)
            for u, g in users
        ]
        dispatch = app.dispatch
        common.clean()
        common.WINDOW.start()
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(events), batch):
            for event in events[i : i + batch]:
                dispatch(event)
            await asyncio.sleep(0)
        await done
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        common.WINDOW.stop()
    finally:
        await app.stop()
    return len(events) / elapsed, len(events) / cpu


async def sdk_json(
    n_sessions: int = SESSIONS, n_msgs: int = MESSAGES, batch: int = BATCH
) -> tuple[float, float]:
    """Messages per second (wall, CPU) from OneBot v11 JSON frames, through the adapter's deliver path."""
    from waiter_sdk.adapters.onebot11 import OneBot11Adapter
    from waiter_sdk.config import OneBot11Settings

    body, done = _opener(n_sessions, _make_waiter(n_msgs))
    adapter = OneBot11Adapter(OneBot11Settings(modes=["reverse_ws"], port=0))
    app = common.App(common.settings(), plugins=[common.Opener(body)], adapters=[adapter])
    await app.start()
    try:
        deliver = adapter.deliver_payload
        loads = wire.loads
        users = _users(n_sessions)
        mid = 1
        for u, g in users:
            deliver(loads(group_frame(u, g, mid, "/open")))
            mid += 1
        await common.settle(app, n_sessions)
        frames = []
        for k in range(n_msgs):
            for u, g in users:
                frames.append(group_frame(u, g, mid, f"m{k}"))
                mid += 1
        common.clean()
        common.WINDOW.start()
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(frames), batch):
            for text in frames[i : i + batch]:
                deliver(loads(text))
            await asyncio.sleep(0)
        await done
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        common.WINDOW.stop()
    finally:
        await app.stop()
    return len(frames) / elapsed, len(frames) / cpu


# --- baseline ----------------------------------------------------------------------------------


class _State:
    __slots__ = ("count", "deadline", "future", "key")

    def __init__(self, key: str, future: asyncio.Future[None]) -> None:
        self.key = key
        self.count = 0
        self.deadline = 0.0
        self.future = future


async def _baseline(
    n_sessions: int, n_msgs: int, batch: int, from_json: bool
) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    sessions: dict[str, _State] = {}
    done = loop.create_future()
    finished = 0

    async def opener(future: asyncio.Future[None]) -> None:
        nonlocal finished
        await future
        finished += 1
        if finished == n_sessions:
            done.set_result(None)

    async def waiter(state: _State, event: Any) -> None:
        state.count += 1
        state.deadline = loop.time() + 60
        if state.count == n_msgs:
            del sessions[state.key]
            state.future.set_result(None)

    openers = []
    users = _users(n_sessions)
    for u, g in users:
        key = f"{common.PLATFORM}|{SELF_ID}|{g}|{u}"
        future = loop.create_future()
        sessions[key] = _State(key, future)
        openers.append(loop.create_task(opener(future)))
    await asyncio.sleep(0)
    common.clean()
    # Two copies of the timed loop on purpose: a shared helper would put a call per message into
    # the floor that the SDK is measured against.
    if from_json:
        frames = [
            group_frame(u, g, k * n_sessions + i, f"m{k}")
            for k in range(n_msgs)
            for i, (u, g) in enumerate(users)
        ]
        loads = orjson.loads
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(frames), batch):
            for text in frames[i : i + batch]:
                payload = loads(text)
                state = sessions.get(
                    f"{common.PLATFORM}|{payload['self_id']}|{payload['group_id']}|{payload['user_id']}"
                )
                if state is not None:
                    await waiter(state, payload)
            await asyncio.sleep(0)
        await done
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        count = len(frames)
    else:
        events = [
            common.text_event(f"m{k}", str(u), str(g), message_id=str(k))
            for k in range(n_msgs)
            for u, g in users
        ]
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(events), batch):
            for event in events[i : i + batch]:
                state = sessions.get(
                    f"{event.platform}|{event.self_id}|{event.group_id}|{event.sender_id}"
                )
                if state is not None:
                    await waiter(state, event)
            await asyncio.sleep(0)
        await done
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        count = len(events)
    await asyncio.gather(*openers)
    return count / elapsed, count / cpu


async def baseline_prebuilt(
    n_sessions: int = SESSIONS, n_msgs: int = MESSAGES, batch: int = BATCH
) -> tuple[float, float]:
    return await _baseline(n_sessions, n_msgs, batch, from_json=False)


async def baseline_json(
    n_sessions: int = SESSIONS, n_msgs: int = MESSAGES, batch: int = BATCH
) -> tuple[float, float]:
    return await _baseline(n_sessions, n_msgs, batch, from_json=True)


def main(runs: int = 3) -> list[Figure]:
    rows: dict[str, list[tuple[float, float]]] = {
        k: [] for k in ("sdk_pre", "base_pre", "sdk_js", "base_js")
    }
    for run in range(runs):
        common.progress(f"throughput run {run + 1}/{runs}")
        rows["sdk_pre"].append(common.run(sdk_prebuilt))
        rows["base_pre"].append(common.run(baseline_prebuilt))
        rows["sdk_js"].append(common.run(sdk_json))
        rows["base_js"].append(common.run(baseline_json))

    def wall(key: str) -> list[float]:
        return [r[0] for r in rows[key]]

    def cpu(key: str) -> float:
        return median([r[1] for r in rows[key]])

    pre, js = median(wall("sdk_pre")), median(wall("sdk_js"))
    return [
        Figure(
            "throughput",
            "prebuilt",
            "msg/s",
            pre,
            median(wall("base_pre")),
            ">= 200,000 msg/s",
            pre >= 200_000,
            wall("sdk_pre"),
            wall("base_pre"),
            f"{SESSIONS:,} sessions x {MESSAGES} messages, batches of {BATCH}; per CPU-second: "
            f"{cpu('sdk_pre'):,.0f} vs baseline {cpu('base_pre'):,.0f}",
            "dict lookup + direct coroutine call",
        ),
        Figure(
            "throughput",
            "json",
            "msg/s",
            js,
            median(wall("base_js")),
            ">= 80,000 msg/s",
            js >= 80_000,
            wall("sdk_js"),
            wall("base_js"),
            "wire.loads (orjson) + OneBot11Adapter.deliver_payload (dedup, parse_event, dispatch); "
            f"per CPU-second: {cpu('sdk_js'):,.0f} vs baseline {cpu('base_js'):,.0f}",
            "orjson.loads + dict lookup + direct coroutine call",
        ),
    ]
