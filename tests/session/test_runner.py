"""The runner: waiter calls stepped without a task, and what happens when one does not return."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from waiter_sdk import MessageEvent, SessionController, session_waiter
from waiter_sdk.config import Settings
from waiter_sdk.session._context import current_session
from waiter_sdk.testing import Simulator


@pytest.fixture
async def sim() -> Any:
    async with Simulator(settings=Settings.load(session={"order_window": 0})) as sim:
        yield sim


def opened(sim: Simulator, waiter: Any, user: str) -> asyncio.Future[None]:
    event = sim.message(sim.user(user), "open")
    event._context = sim.app
    return asyncio.ensure_future(waiter(event))


async def test_a_call_raising_cancelled_error_itself_ends_only_its_session(sim: Simulator) -> None:
    seen: list[str] = []

    @session_waiter(timeout=60)
    async def waiter(controller: SessionController, event: MessageEvent) -> None:
        seen.append(event.sender_id)
        if event.message_str == "quit":
            raise asyncio.CancelledError  # before any await: inside the runner's own step
        controller.stop()

    quitter, other = opened(sim, waiter, "a"), opened(sim, waiter, "b")
    await sim.settle()
    # Both in one burst: the runner must go on to b's call after a's raised.
    sim.app.dispatch(sim.message(sim.user("a"), "quit"))
    sim.app.dispatch(sim.message(sim.user("b"), "done"))
    await sim.settle()
    assert seen == ["a", "b"]
    assert await other is None
    assert await quitter is None  # ended "cancelled", as by an exit word: the opener goes on
    assert sim.app.session_registry.ended_counts == {"cancelled": 1, "stopped": 1}
    assert len(sim.app.session_registry.tasks) == 0


async def test_a_message_delivered_during_a_call_that_never_waits_runs_next(
    sim: Simulator,
) -> None:
    order: list[str] = []

    @session_waiter(timeout=60)
    async def waiter(controller: SessionController, event: MessageEvent) -> None:
        order.append(event.message_str)
        if event.message_str == "first":
            # Routed to this session while its call runs: it queues behind this call.
            sim.app.dispatch(sim.message(sim.user("a"), "second"))
            order.append("first done")
        else:
            controller.stop()

    task = opened(sim, waiter, "a")
    await sim.settle()
    await sim.send(sim.user("a"), "first")
    assert await task is None
    assert order == ["first", "first done", "second"]


async def test_a_call_that_waits_keeps_the_task_and_its_session_context(sim: Simulator) -> None:
    tasks: list[asyncio.Task[Any] | None] = []
    sessions: list[object] = []

    @session_waiter(timeout=60)
    async def waiter(controller: SessionController, event: MessageEvent) -> None:
        tasks.append(asyncio.current_task())
        await asyncio.sleep(1)
        tasks.append(asyncio.current_task())
        sessions.append(current_session.get())
        controller.stop()

    task = opened(sim, waiter, "a")
    await sim.settle()
    await sim.send(sim.user("a"), "go")
    await sim.advance(1)
    assert await task is None
    assert tasks[0] is tasks[1] and tasks[0] is not None
    assert len(sessions) == 1 and sessions[0] is not None


@pytest.mark.parametrize(("level", "logged"), [("DEBUG", True), ("INFO", False)])
async def test_session_ends_are_logged_at_debug_level_only(
    logs: list[str], level: str, logged: bool
) -> None:
    settings = Settings.load(log_level=level, session={"order_window": 0})
    async with Simulator(settings=settings) as sim:

        @session_waiter(timeout=60)
        async def waiter(controller: SessionController, event: MessageEvent) -> None:
            controller.stop()

        task = opened(sim, waiter, "a")
        await sim.settle()
        await sim.send(sim.user("a"), "done")
        assert await task is None
    ends = [line for line in logs if "ended: stopped" in line]
    assert ends == (
        ["DEBUG session sender|sim|bot|pa|a (plugin ) ended: stopped"] if logged else []
    )


@pytest.mark.parametrize("waits", [False, True])
async def test_calls_that_wait_and_calls_that_do_not_are_run_alike(waits: bool) -> None:
    # The Runner steps a call that returns at once itself, with _begin and _call_done inlined
    # (once per message); a call that waits goes on in _drive, which calls them. Both paths
    # must record the same history, keep the same order and leave the session idle: if one of
    # the copies changes alone, this fails.
    seen: list[str] = []

    @session_waiter(timeout=60, record_history_chains=True)
    async def waiter(controller: SessionController, event: MessageEvent) -> None:
        if waits:
            await asyncio.sleep(0)
        seen.append(event.message_str)
        if event.message_str == "last":
            seen.append(f"history {[c[0].text for c in controller.get_history_chains()]}")
            controller.stop()

    async with Simulator(settings=Settings.load(session={"order_window": 0})) as sim:
        opener = opened(sim, waiter, "a")
        await sim.settle()
        for text in ("one", "two", "three", "last"):
            sim.app.dispatch(sim.message(sim.user("a"), text))  # a burst: they queue
        await sim.settle()
        assert await opener is None
        assert seen == ["one", "two", "three", "last", "history ['one', 'two', 'three', 'last']"]
        assert len(sim.app.session_registry.tasks) == 0
