"""Busy and conflict policies, exit words, end reasons, introspection, and leaks."""

from __future__ import annotations

import asyncio
import gc
from typing import Any, ClassVar

import pytest

from waiter_sdk import (
    GroupSessionFilter,
    MessageEvent,
    Plugin,
    SessionController,
    command,
    on_message,
    session_waiter,
)
from waiter_sdk.config import Settings
from waiter_sdk.session.controller import SessionController as Controller
from waiter_sdk.testing import Simulator


class Slow(Plugin):
    """Opens one session whose calls take 1 s each; options come from class attributes."""

    name = "slow"
    options: ClassVar[dict[str, Any]] = {}

    def __init__(self) -> None:
        self.got: list[str] = []
        self.plugins_saw: list[str] = []
        self.reasons: list[str | None] = []

    @command("open")
    async def open(self, event: MessageEvent) -> None:
        event.stop_event()
        controllers: list[SessionController] = []

        @session_waiter(timeout=60, **self.options)
        async def waiter(controller: SessionController, reply: MessageEvent) -> None:
            controllers.append(controller)
            self.got.append(reply.message_str)
            await asyncio.sleep(1)
            if reply.message_str == "stop":
                controller.stop()

        try:
            await waiter(event)
        finally:
            self.reasons.append(controllers[-1].reason if controllers else None)

    @on_message(priority=-1)
    async def fallback(self, event: MessageEvent) -> None:
        self.plugins_saw.append(event.message_str)


async def burst(sim: Simulator, texts: list[str]) -> None:
    user = sim.user("a")
    for text in texts:
        sim.app.dispatch(sim.message(user, text))


async def test_busy_queue_keeps_order_up_to_max_queue_then_drops_with_warning(
    logs: list[str],
) -> None:
    plugin = Slow()
    plugin.options = {"max_queue": 3}
    async with Simulator(plugins=[plugin]) as sim:
        await sim.send(sim.user("a"), "/open")
        await burst(sim, ["1", "2", "3", "4", "5", "6"])
        await sim.advance(10)
        assert plugin.got == ["1", "2", "3", "4"]  # one running + three queued
        dropped = [line for line in logs if "dropped one (max_queue)" in line]
        assert len(dropped) == 2
        assert "sender|sim|bot|pa|a" in dropped[0] and "slow" in dropped[0]


async def test_busy_drop_discards_what_arrives_during_a_call() -> None:
    plugin = Slow()
    plugin.options = {"busy": "drop"}
    async with Simulator(plugins=[plugin]) as sim:
        await sim.send(sim.user("a"), "/open")
        await burst(sim, ["1", "2", "3"])
        await sim.advance(2)
        await burst(sim, ["4"])
        await sim.advance(2)
        assert plugin.got == ["1", "4"]
        assert plugin.plugins_saw == []


async def test_default_max_queue_comes_from_settings() -> None:
    plugin = Slow()
    plugin.options = {}
    settings = Settings.load(session={"max_queue": 2})
    async with Simulator(plugins=[plugin], settings=settings) as sim:
        await sim.send(sim.user("a"), "/open")
        await burst(sim, ["1", "2", "3", "4", "5"])
        await sim.advance(10)
        assert plugin.got == ["1", "2", "3"]


async def test_exit_word_ends_the_senders_session_as_cancelled() -> None:
    plugin = Slow()
    plugin.options = {}
    settings = Settings.load(session={"exit_words": ["exit", "退出"], "exit_notice": "Bye."})
    async with Simulator(plugins=[plugin], settings=settings) as sim:
        ended: list[Controller] = []
        sim.app.listen("session_ended", ended.append)
        alice, bob = sim.user("alice"), sim.user("bob")
        await sim.send(alice, "/open", group="g")
        out = await sim.send(bob, "exit", group="g")  # bob has no session: plugins see it
        assert out == [] and plugin.plugins_saw == ["exit"]
        out = await sim.send(alice, "退出", group="g")
        assert [o.text for o in out] == ["Bye."]
        assert [c.reason for c in ended] == ["cancelled"]
        assert plugin.got == []  # no waiter saw the exit word
        assert len(sim.app.sessions) == 0


async def test_every_end_reason_is_reported() -> None:
    reasons: list[str | None] = []

    class Reasons(Plugin):
        name = "reasons"

        @command("r")
        async def r(self, event: MessageEvent) -> None:
            event.stop_event()
            holder: list[SessionController] = []

            @session_waiter(timeout=10, conflict="replace")
            async def waiter(controller: SessionController, reply: MessageEvent) -> None:
                text = reply.message_str
                if text == "stop":
                    controller.stop()
                elif text == "exhaust":
                    controller.keep(-100)
                elif text == "boom":
                    raise RuntimeError("boom")

            def grab(session: Controller) -> None:
                holder.append(session)

            remove = sim.app.listen("session_opened", grab)
            try:
                await waiter(event)
            except BaseException:
                pass
            finally:
                remove()
                reasons.append(holder[0].reason if holder else None)

    settings = Settings.load(session={"exit_words": ["bye"]})
    async with Simulator(plugins=[Reasons], settings=settings) as sim:
        a = sim.user("a")
        for trigger in ("stop", "exhaust", "boom", "bye"):
            await sim.send(a, "/r")
            await sim.send(a, trigger)
        await sim.send(a, "/r")
        await sim.advance(11)  # timeout
        await sim.send(a, "/r")
        (info,) = sim.app.sessions.list()
        assert await sim.app.sessions.close(info.key)  # cancelled
        await sim.settle()
        await sim.send(a, "/r")
        await sim.send(sim.user("b"), "/r")
        # replaced: a second opener with conflict="replace" on a's key
        event = sim.message(a, "/r")
        sim.app.dispatch(event)  # routed to a's open session as a message, so open directly:
        await sim.settle()
    assert reasons[:6] == ["stopped", "exhausted", "error", "cancelled", "timeout", "cancelled"]
    assert sorted(r for r in reasons[6:] if r) == ["shutdown", "shutdown"]


async def test_replaced_reason() -> None:
    seen: list[str | None] = []

    @session_waiter(timeout=60, conflict="replace")
    async def waiter(controller: SessionController, reply: MessageEvent) -> None:
        controller.stop()

    async with Simulator() as sim:
        opened: list[Controller] = []
        sim.app.listen("session_opened", opened.append)
        ended: list[Controller] = []
        sim.app.listen("session_ended", ended.append)
        first = sim.message(sim.user("a"), "x")
        first._context = sim.app
        task = asyncio.ensure_future(waiter(first))
        await sim.settle()
        second = sim.message(sim.user("a"), "y")
        second._context = sim.app
        task2 = asyncio.ensure_future(waiter(second))
        await sim.settle()
        seen = [c.reason for c in ended]
        assert seen == ["replaced"]
        with pytest.raises(Exception, match="replaced"):
            await task
        assert not task2.done()


async def test_sessions_view_and_close() -> None:
    @session_waiter(timeout=60, record_history_chains=True)
    async def waiter(controller: SessionController, reply: MessageEvent) -> None:
        await asyncio.sleep(5)

    class Team(Plugin):
        name = "team"

        @command("team")
        async def team(self, event: MessageEvent) -> None:
            await waiter(event, session_filter=GroupSessionFilter())
            await event.send("game over")

    async with Simulator(plugins=[Team]) as sim:
        await sim.advance(100)
        await sim.send(sim.user("a"), "/team", group="g")
        await sim.advance(10)
        for text in ("1", "2", "3"):
            sim.app.dispatch(sim.message(sim.user("b"), text, group="g"))
        await sim.settle()
        (info,) = list(sim.app.sessions)
        assert info.plugin == "team" and info.filter == "GroupSessionFilter"
        assert info.key == "group|sim|bot|gg"
        assert info.deadline - info.opened_at == 60
        assert info.remaining == 50
        assert info.queued == 2 and info.history_length == 1 and info.busy
        assert info.key in sim.app.sessions
        assert await sim.app.sessions.close(info.key) is True
        await sim.settle()
        assert sim.outbox[-1].text == "game over"
        assert len(sim.app.sessions) == 0
        assert await sim.app.sessions.close(info.key) is False


async def test_a_long_conversation_never_blocks_other_conversations() -> None:
    class Mixed(Plugin):
        name = "mixed"

        @command("long")
        async def long(self, event: MessageEvent) -> None:
            @session_waiter(timeout=3600)
            async def waiter(controller: SessionController, reply: MessageEvent) -> None:
                await asyncio.sleep(3000)

            await waiter(event)

        @command("ping")
        async def ping(self, event: MessageEvent) -> None:
            await event.send("pong")

    async with Simulator(plugins=[Mixed]) as sim:
        await sim.send(sim.user("a"), "/long", group="g")
        await sim.send(sim.user("a"), "busy now", group="g")
        out = await sim.send(sim.user("b"), "/ping", group="g")
        assert [o.text for o in out] == ["pong"]
        out = await sim.send(sim.user("a"), "/ping")  # same user, other conversation
        assert [o.text for o in out] == ["pong"]


async def test_ten_thousand_sessions_end_for_every_reason_and_leave_nothing() -> None:
    reasons = ["stopped", "exhausted", "timeout", "cancelled", "replaced", "error", "shutdown"]

    @session_waiter(timeout=30)
    async def waiter(controller: SessionController, reply: MessageEvent) -> None:
        text = reply.message_str
        if text == "stopped":
            controller.stop()
        elif text == "exhausted":
            controller.keep(0, reset_timeout=True)
        elif text == "error":
            raise ValueError("x")
        else:
            await asyncio.sleep(1000)  # busy when the end comes from outside

    replacing = session_waiter(timeout=30, conflict="replace")(waiter.func)

    sim = Simulator(settings=Settings.load(session={"order_window": 0}))
    await sim.start()
    loop: Any = asyncio.get_running_loop()
    timers_before = sum(1 for h in loop._scheduled if not h._cancelled)
    openers: list[asyncio.Task[None]] = []
    per_reason = 10_000 // len(reasons) + 1
    events: dict[str, list[MessageEvent]] = {}

    def open_all(group: list[str]) -> None:
        for reason in group:
            for i in range(per_reason):
                event = sim.message(sim.user(f"{reason}-{i}"), "open")
                event._context = sim.app
                events.setdefault(reason, []).append(event)
                openers.append(asyncio.ensure_future(waiter(event)))

    open_all(reasons[:-1])
    await sim.settle()
    registry = sim.app.session_registry
    assert len(registry) == per_reason * (len(reasons) - 1)
    for reason in ("stopped", "exhausted", "error", "cancelled", "replaced", "timeout"):
        for event in events[reason]:
            sim.app.dispatch(sim.message(sim.user(event.sender_id), reason))
    await sim.settle()
    for event in events["cancelled"]:
        await sim.app.sessions.close(f"sender|sim|bot|p{event.sender_id}|{event.sender_id}")
    for event in events["replaced"]:
        twin = sim.message(sim.user(event.sender_id), "again")
        twin._context = sim.app
        openers.append(asyncio.ensure_future(replacing(twin)))
    await sim.settle()
    for twin in list(registry):
        if twin.key.split("|")[-1].startswith("replaced-"):
            twin.stop()
    await sim.advance(31)  # the "timeout" group: the last one still open
    assert len(registry) == 0
    open_all(["shutdown"])
    await sim.settle()
    assert len(registry) == per_reason
    assert per_reason * len(reasons) >= 10_000
    await sim.stop()
    outcomes: set[str] = set()
    for opener in openers:  # every opener was released (none hangs after the app stopped)
        assert opener.done()
        error = opener.exception()
        outcomes.add(type(error).__name__ if error else "None")
    assert outcomes == {"None", "ValueError", "SessionTimeoutError", "SessionClosedError"}
    counts = registry.ended_counts
    assert set(counts) == set(reasons)
    assert counts["replaced"] == per_reason
    # Nothing of any session survives its end.
    assert len(registry) == 0
    assert registry._by_key == {} and registry._filters == {} and registry._ids == {}
    assert registry._heap == [] and registry._timer is None
    assert len(registry.tasks) == 0 and len(sim.app.bus.tasks) == 0
    assert sum(1 for h in loop._scheduled if not h._cancelled) <= timers_before
    events.clear()
    openers.clear()
    del opener, error, twin
    gc.collect()
    ours = {f"sender|sim|bot|p{r}-{i}|{r}-{i}" for r in reasons for i in range(per_reason)}
    left = [o for o in gc.get_objects() if isinstance(o, Controller) and o.key in ours]
    assert left == []
