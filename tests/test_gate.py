"""Sender gates: held messages go on when the handler finishes, or after the order window."""

from __future__ import annotations

import asyncio
from typing import Any

from waiter_sdk import MessageEvent, Plugin, command, on_message
from waiter_sdk.config import Settings
from waiter_sdk.testing import Simulator


def live_timers() -> int:
    loop: Any = asyncio.get_running_loop()
    return sum(1 for handle in loop._scheduled if not handle._cancelled)


class Slow(Plugin):
    """``/slow N`` works for N seconds without opening a session; chat is recorded with its time."""

    name = "slow"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, float]] = []

    @command("slow")
    async def slow(self, event: MessageEvent) -> None:
        await asyncio.sleep(float(event.args[0]))

    @on_message(priority=-1)
    async def chat(self, event: MessageEvent) -> None:
        if not event.message_str.startswith("/"):
            loop = asyncio.get_running_loop()
            self.seen.append((event.sender_id, event.message_str, loop.time()))


async def test_held_messages_wait_for_a_short_handler_then_go_in_order() -> None:
    plugin = Slow()
    async with Simulator(
        plugins=[plugin], settings=Settings.load(session={"order_window": 2})
    ) as sim:
        start = asyncio.get_running_loop().time()
        alice = sim.user("alice")
        for text in ("/slow 1", "one", "two"):
            sim.app.dispatch(sim.message(alice, text))
        await sim.advance(5)
        assert [(s, t, round(at - start, 6)) for s, t, at in plugin.seen] == [
            ("alice", "one", 1.0),
            ("alice", "two", 1.0),
        ]


async def test_each_gate_opens_at_its_own_window_with_one_loop_timer_for_all() -> None:
    plugin = Slow()
    settings = Settings.load(session={"order_window": 2})
    async with Simulator(plugins=[plugin], settings=settings) as sim:
        loop = asyncio.get_running_loop()
        start = loop.time()
        before = live_timers()
        for i, name in enumerate(("a", "b", "c")):
            user = sim.user(name)
            sim.app.dispatch(sim.message(user, "/slow 100"))
            sim.app.dispatch(sim.message(user, f"hi from {name}"))
            await sim.advance(0.5 if i < 2 else 0)
        # Three gates, three sleeping handlers: one timer for the gates, three for the sleeps.
        assert live_timers() == before + 1 + 3
        await sim.advance(5)
        assert [(s, round(at - start, 6)) for s, _, at in plugin.seen] == [
            ("a", 2.0),
            ("b", 2.5),
            ("c", 3.0),
        ]
        assert len(sim.app._gates) == 0
        assert live_timers() == before + 3  # only the sleeps are left


async def test_a_released_message_that_closes_a_gate_leaves_older_gates_on_time() -> None:
    plugin = Slow()
    settings = Settings.load(session={"order_window": 2})
    async with Simulator(plugins=[plugin], settings=settings) as sim:
        loop = asyncio.get_running_loop()
        start = loop.time()
        alice, bob = sim.user("alice"), sim.user("bob")
        sim.app.dispatch(sim.message(alice, "/slow 100"))
        sim.app.dispatch(sim.message(alice, "/slow 100"))  # held; closes a new gate at 2 s
        await sim.advance(1)
        sim.app.dispatch(sim.message(bob, "/slow 100"))  # bob's gate: due at 3 s
        sim.app.dispatch(sim.message(bob, "bob waited"))
        sim.app.dispatch(sim.message(alice, "alice waited"))  # joins alice's gate
        await sim.advance(1)  # 2 s: alice's first gate opens, her second /slow closes another
        assert plugin.seen == []
        await sim.advance(1)  # 3 s: bob's gate is due, though a later entry was queued at 2 s
        assert [(s, t, round(at - start, 6)) for s, t, at in plugin.seen] == [
            ("bob", "bob waited", 3.0)
        ]
        await sim.advance(1)  # 4 s: alice's second gate
        assert [s for s, _, _ in plugin.seen] == ["bob", "alice"]


async def test_gates_opened_early_leave_no_timer_behind() -> None:
    plugin = Slow()
    async with Simulator(plugins=[plugin]) as sim:
        before = live_timers()
        sim.app.dispatch(sim.message(sim.user("a"), "/slow 0"))
        sim.app.dispatch(sim.message(sim.user("a"), "after"))
        await sim.settle()
        assert [t for _, t, _ in plugin.seen] == ["after"]
        assert live_timers() == before


async def test_ids_with_separators_never_share_a_gate() -> None:
    plugin = Slow()
    async with Simulator(plugins=[plugin]) as sim:
        # Joined raw, group "a|b" with sender "c" and group "a" with sender "b|c" read the same.
        sim.app.dispatch(sim.message(sim.user("c"), "/slow 100", group="a|b"))
        sim.app.dispatch(sim.message(sim.user("b|c"), "not held", group="a"))
        await sim.settle()
        assert [t for _, t, _ in plugin.seen] == ["not held"]
