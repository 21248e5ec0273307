"""Session deadlines: one heap per registry, one loop timer, exact expiry on the loop clock."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from waiter_sdk import MessageEvent, SessionController, SessionTimeoutError, session_waiter
from waiter_sdk.config import Settings
from waiter_sdk.session.registry import _COMPACT_AT
from waiter_sdk.testing import Simulator


def live_timers() -> int:
    loop: Any = asyncio.get_running_loop()
    return sum(1 for handle in loop._scheduled if not handle._cancelled)


def opened(sim: Simulator, waiter: Any, user: str) -> asyncio.Task[None]:
    event = sim.message(sim.user(user), "open")
    event._context = sim.app
    return asyncio.ensure_future(waiter(event))


async def idle(controller: SessionController, event: MessageEvent) -> None:
    pass


@pytest.fixture
async def sim() -> Any:
    async with Simulator(settings=Settings.load(session={"order_window": 0})) as sim:
        yield sim


async def test_many_sessions_share_one_loop_timer_and_each_times_out_at_its_deadline(
    sim: Simulator,
) -> None:
    loop = asyncio.get_running_loop()
    before = live_timers()
    woke: dict[int, float] = {}

    async def opener(seconds: int) -> None:
        waiter = session_waiter(timeout=seconds)(idle)
        event = sim.message(sim.user(f"u{seconds}"), "open")
        event._context = sim.app
        with pytest.raises(SessionTimeoutError):
            await waiter(event)
        woke[seconds] = loop.time()

    start = loop.time()
    tasks = [asyncio.ensure_future(opener(s)) for s in (50, 10, 30, 20, 40)]
    await sim.settle()
    assert len(sim.app.session_registry) == 5
    assert live_timers() == before + 1
    await sim.advance(60)
    await asyncio.gather(*tasks)
    assert {s: round(t - start, 6) for s, t in woke.items()} == {s: float(s) for s in woke}
    assert live_timers() == before
    assert sim.app.session_registry._heap == []


async def test_keep_earlier_rearms_and_keep_later_costs_no_new_entry(sim: Simulator) -> None:
    loop = asyncio.get_running_loop()

    @session_waiter(timeout=60)
    async def waiter(controller: SessionController, event: MessageEvent) -> None:
        controller.keep(float(event.message_str), reset_timeout=True)

    start = loop.time()
    task = opened(sim, waiter, "a")
    await sim.settle()
    registry = sim.app.session_registry
    await sim.send(sim.user("a"), "10")  # earlier than the armed 60 s: a new entry
    await sim.send(sim.user("a"), "100")  # later: the entry at 10 s stays, nothing is pushed
    assert [entry[0] - start for entry in registry._heap if entry[2] is not None] == [10.0]
    await sim.advance(10)
    assert not task.done()  # the entry came due, found the deadline moved, and re-armed
    await sim.advance(89.9)
    assert not task.done()
    await sim.advance(0.1)
    with pytest.raises(SessionTimeoutError):
        await task
    assert loop.time() - start == pytest.approx(100.0)


async def test_equal_deadlines_end_in_the_order_they_were_set(sim: Simulator) -> None:
    ended: list[str] = []
    sim.app.listen("session_ended", lambda s: ended.append(s.event.sender_id))

    @session_waiter(timeout=60)
    async def waiter(controller: SessionController, event: MessageEvent) -> None:
        controller.keep(30, reset_timeout=True)

    tasks = [opened(sim, waiter, name) for name in ("a", "b", "c")]
    await sim.settle()
    await sim.advance(10)
    await sim.send(sim.user("c"), "x")  # c and a now end at 40 s, c's deadline set first,
    await sim.send(sim.user("a"), "x")  # though a opened first
    await sim.advance(30)
    assert ended == ["c", "a"]
    await sim.advance(20)
    assert ended == ["c", "a", "b"]
    for task in tasks:
        with pytest.raises(SessionTimeoutError):
            await task


async def test_dead_heap_entries_are_compacted_while_a_session_stays_open(
    sim: Simulator,
) -> None:
    waiter = session_waiter(timeout=3600)(idle)
    keeper = opened(sim, waiter, "keeper")
    await sim.settle()
    registry = sim.app.session_registry
    for i in range(3 * _COMPACT_AT):
        task = opened(sim, waiter, f"brief{i}")
        await sim.settle()
        await sim.app.sessions.close(f"sender|sim|bot|pbrief{i}|brief{i}")
        await task
    assert len(registry) == 1
    assert len(registry._heap) <= _COMPACT_AT + 2
    assert sum(1 for e in registry._heap if e[2] is not None) == 1
    await sim.app.sessions.close(next(iter(registry)).key)
    await keeper
    assert registry._heap == [] and registry._timer is None
