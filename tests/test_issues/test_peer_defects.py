"""Regression tests, each named after a defect that users of another framework keep reporting.

All run in virtual time. The botoy ones (first message lost after a session ends, early answer
dropped with skip_responder=False) live in tests/session/test_botoy.py; the keep() tables in
tests/session/test_rules.py (test_rule4_*).
"""

from __future__ import annotations

import asyncio
from typing import Any

from waiter_sdk import (
    MessageEvent,
    Plugin,
    SessionClosedError,
    SessionController,
    command,
    on_message,
    session_waiter,
)
from waiter_sdk.testing import Simulator


def live_timers() -> int:
    loop: Any = asyncio.get_running_loop()
    return sum(1 for handle in loop._scheduled if not handle._cancelled)


class Game(Plugin):
    """A default-filter session per player, and a fallback that records what reached plugins."""

    name = "game"
    timeout = 30.0

    def __init__(self) -> None:
        self.answers: list[tuple[str, str]] = []
        self.plugins_saw: list[tuple[str, str]] = []
        self.outcomes: list[str] = []
        self.late_send_errors: list[str] = []

    @command("play")
    async def play(self, event: MessageEvent) -> None:
        event.stop_event()
        await event.send(f"{event.sender_id}, your move")

        @session_waiter(timeout=self.timeout)
        async def move(controller: SessionController, reply: MessageEvent) -> None:
            self.answers.append((reply.sender_id, reply.message_str))
            if reply.message_str == "slow":
                try:
                    await asyncio.sleep(60)  # still running when the deadline comes
                finally:
                    try:
                        await reply.send("too late")  # must never go out
                    except SessionClosedError as exc:
                        self.late_send_errors.append(str(exc))
            if reply.message_str in ("done", "slow-done"):
                if reply.message_str == "slow-done":
                    await asyncio.sleep(1)
                controller.stop()

        try:
            await move(event)
            self.outcomes.append("stopped")
        except TimeoutError:
            self.outcomes.append("timeout")
            await event.send("time is up")

    @on_message(priority=-1)
    async def chatter(self, event: MessageEvent) -> None:
        self.plugins_saw.append((event.sender_id, event.message_str))


async def test_astrbot_9377_other_group_member_not_captured_by_default_session() -> None:
    game = Game()
    async with Simulator(plugins=[game]) as sim:
        alice, bob = sim.user("alice"), sim.user("bob")
        await sim.send(alice, "/play", group="g1")
        await sim.send(bob, "hello everyone", group="g1")
        await sim.send(alice, "e4", group="g1")
        assert game.answers == [("alice", "e4")]
        assert game.plugins_saw == [("bob", "hello everyone")]


async def test_astrbot_9996_older_session_cleanup_does_not_evict_newer_one() -> None:
    game = Game()
    async with Simulator(plugins=[game]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/play", group="g1")
        (old,) = list(sim.app.session_registry)
        await sim.send(alice, "done", group="g1")
        await sim.send(alice, "/play", group="g1")  # same key, newer session
        (new,) = list(sim.app.session_registry)
        assert new is not old
        # The old session's cleanup runs again late (AstrBot's finally-block race).
        old._end("timeout")
        sim.app.session_registry.remove(old)
        assert sim.app.session_registry.get(new.key) is new
        await sim.send(alice, "d4", group="g1")
        assert game.answers == [("alice", "done"), ("alice", "d4")]


async def test_astrbot_6401_call_running_at_timeout_is_cancelled_and_sends_nothing() -> None:
    game = Game()
    async with Simulator(plugins=[game]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/play")
        await sim.advance(20)
        await sim.send(alice, "slow")
        out = await sim.advance(100)
        assert [o.text for o in out] == ["time is up"]
        assert "too late" not in [o.text for o in sim.outbox]
        assert game.outcomes == ["timeout"]
        assert len(game.late_send_errors) == 1 and "timeout" in game.late_send_errors[0]


async def test_astrbot_message_queued_behind_a_stopping_waiter_reaches_plugins() -> None:
    game = Game()
    async with Simulator(plugins=[game]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/play", group="g")
        sim.app.dispatch(sim.message(alice, "slow-done", group="g"))
        sim.app.dispatch(sim.message(alice, "by the way", group="g"))
        await sim.advance(2)
        assert game.outcomes == ["stopped"]
        assert game.plugins_saw == [("alice", "by the way")]


async def test_astrbot_stop_leaves_no_pending_timer_or_task() -> None:
    game = Game()
    game.timeout = 3600
    async with Simulator(plugins=[game]) as sim:
        baseline = live_timers()
        alice = sim.user("alice")
        await sim.send(alice, "/play")
        assert live_timers() == baseline + 1  # one timer per session, nothing else
        await sim.send(alice, "done")
        assert game.outcomes == ["stopped"]
        assert live_timers() == baseline
        assert len(sim.app.session_registry.tasks) == 0
        assert len(sim.app.bus.tasks) == 0


async def test_nonebot_aiogram_two_messages_at_once_run_in_order_never_concurrently() -> None:
    running: list[int] = []
    seen: list[str] = []

    class Form(Plugin):
        name = "form"

        @command("form")
        async def form(self, event: MessageEvent) -> None:
            @session_waiter(timeout=60)
            async def field(controller: SessionController, reply: MessageEvent) -> None:
                running.append(1)
                assert len(running) == 1, "two waiter calls at once"
                await asyncio.sleep(0.5)  # a database write, say
                seen.append(reply.message_str)
                running.pop()
                if len(seen) == 2:
                    controller.stop()

            await field(event)
            await event.send(f"saved {seen}")

    async with Simulator(plugins=[Form]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/form")
        sim.app.dispatch(sim.message(alice, "name: Alice"))
        sim.app.dispatch(sim.message(alice, "age: 30"))  # same instant
        out = await sim.advance(2)
        assert seen == ["name: Alice", "age: 30"]
        assert [o.text for o in out] == ["saved ['name: Alice', 'age: 30']"]


async def test_fast_typist_reply_sent_before_the_prompt_still_reaches_the_session() -> None:
    # NoneBot's got() and AstrBot lose a reply that arrives before the handler has opened its
    # session; the sender gate holds it until the session is open.
    game = Game()
    async with Simulator(plugins=[game]) as sim:
        alice = sim.user("alice")
        sim.app.dispatch(sim.message(alice, "/play"))
        sim.app.dispatch(sim.message(alice, "done"))  # before the handler even started
        await sim.settle()
        assert game.answers == [("alice", "done")]
        assert game.outcomes == ["stopped"]
        assert game.plugins_saw == []


async def test_timeouts_are_never_silent_an_uncaught_timeout_is_logged(logs: list[str]) -> None:
    class Careless(Plugin):
        name = "careless"

        @command("ask")
        async def ask(self, event: MessageEvent) -> None:
            @session_waiter(timeout=5)
            async def answer(controller: SessionController, reply: MessageEvent) -> None:
                controller.stop()

            await answer(event)  # no try/except TimeoutError

    async with Simulator(plugins=[Careless]) as sim:
        await sim.send(sim.user("a"), "/ask")
        await sim.advance(6)
    warnings = [line for line in logs if line.startswith("WARNING")]
    assert any("careless.ask" in w and "timed out" in w for w in warnings)
