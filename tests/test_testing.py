"""The test kit: the Simulator's replies, virtual time, and the pytest fixture."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from waiter_sdk import MessageEvent, Plugin, SessionController, command, session_waiter
from waiter_sdk.testing import NotIdleError, Simulator, VirtualClock


class Slow(Plugin):
    name = "slow"

    @command("later")
    async def later(self, event: MessageEvent) -> None:
        await event.send("soon")
        await asyncio.sleep(10)
        await event.send("ten seconds later")

    @command("ask")
    async def ask(self, event: MessageEvent) -> None:
        await event.send("question?")

        @session_waiter(timeout=3600)
        async def answer(controller: SessionController, reply: MessageEvent) -> None:
            await reply.send(f"got {reply.message_str}")
            controller.stop()

        try:
            await answer(event)
        except TimeoutError:
            await event.send("an hour passed")


async def test_send_returns_exactly_the_replies_of_one_message() -> None:
    async with Simulator(plugins=[Slow]) as sim:
        alice, bob = sim.user("alice"), sim.user("bob")
        out = await sim.send(alice, "/later", group="g")
        assert [(o.text, o.group_id) for o in out] == [("soon", "g")]
        out = await sim.send(bob, "/ask")
        assert [(o.text, o.user_id) for o in out] == [("question?", "bob")]
        out = await sim.advance(10)
        assert [o.text for o in out] == ["ten seconds later"]
        out = await sim.send(bob, "42")
        assert [o.text for o in out] == ["got 42"]
        assert [o.text for o in sim.outbox] == [
            "soon",
            "question?",
            "ten seconds later",
            "got 42",
        ]


async def test_an_hour_of_virtual_time_never_waits_on_the_real_clock() -> None:
    # Not a timing: the loop only ever sleeps in its selector, so a selector never asked to
    # block proves that no real time was waited for.
    loop: Any = asyncio.get_running_loop()
    selector = loop._selector
    timeouts: list[float | None] = []
    real_select = selector.select

    def select(timeout: float | None = None) -> Any:
        timeouts.append(timeout)
        return real_select(0)

    async with Simulator(plugins=[Slow]) as sim:
        await sim.send(sim.user("carol"), "/ask")
        selector.select = select
        try:
            out = await sim.advance(3600)
        finally:
            del selector.select
        assert [o.text for o in out] == ["an hour passed"]
    assert timeouts and all(t == 0 for t in timeouts)


async def test_advance_fires_timers_in_order_at_their_time() -> None:
    loop = asyncio.get_running_loop()
    clock = VirtualClock.install()
    try:
        seen: list[tuple[str, float]] = []
        start = loop.time()
        loop.call_later(5, lambda: seen.append(("b", loop.time() - start)))
        loop.call_later(2, lambda: seen.append(("a", loop.time() - start)))
        loop.call_later(9, lambda: seen.append(("c", loop.time() - start)))
        await clock.advance(6)
        assert seen == [("a", 2.0), ("b", 5.0)]
        assert loop.time() - start == 6.0
        await clock.advance(3)
        assert seen[-1] == ("c", 9.0)
    finally:
        clock.uninstall()
    assert loop.time() != start + 9  # the real clock is back


async def test_a_spinning_task_is_reported_not_hung() -> None:
    clock = VirtualClock.install()
    stop = False

    async def spin() -> None:
        while not stop:
            await asyncio.sleep(0)

    task = asyncio.ensure_future(spin())
    try:
        with pytest.raises(NotIdleError):
            await clock.settle(max_rounds=200)
    finally:
        stop = True
        await task
        clock.uninstall()


async def test_simulator_fixture_factory(
    simulator: Callable[..., Awaitable[Simulator]],
) -> None:
    sim = await simulator(plugins=[Slow])
    out = await sim.send(sim.user("dave"), "/ask", group="g2")
    assert [o.group_id for o in out] == ["g2"]
    assert len(sim.app.sessions) == 1
