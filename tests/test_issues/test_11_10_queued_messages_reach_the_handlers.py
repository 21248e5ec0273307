"""Issue 11.10: held and queued messages (API rules 8 and 15).

The defect had one cause: once the first released message closed its sender's gate, the rest
were held there and, when the gate opened, routed again through session routing. So a message
queued behind a session that ended went to a session opened after it arrived, to an older
matching session, or was lost to a busy one; and an exit word held behind its sender's own
handler reached the waiter as an answer.

Rule 8: every message queued behind a running waiter call when the session ended goes on to the
plugin handlers, in order, as if no session had existed; none is handed to another or a newer
session (a replacement included). Rule 15: an exit word ends the session it would otherwise be
delivered to, held back behind its sender's handler or not.
"""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest

from waiter_sdk import (
    GroupSessionFilter,
    MessageEvent,
    Plugin,
    SessionController,
    SessionFilter,
    UserSessionFilter,
    command,
    on_message,
    session_waiter,
)
from waiter_sdk.config import Settings
from waiter_sdk.testing import Simulator

Next = Literal["newer", "newer_drop", "older", "none"]


class Rounds(Plugin):
    """Round 1 takes one message and works 1 s on it; then, by ``what_next``, another session."""

    name = "rounds"

    def __init__(self, what_next: Next) -> None:
        self.what_next = what_next
        self.sessions_saw: list[str] = []
        self.handlers_saw: list[str] = []

    @command("older")
    async def older(self, event: MessageEvent) -> None:
        # Opened first, for every message of its sender: "older" than round 1.
        @session_waiter(timeout=600)
        async def anything(controller: SessionController, reply: MessageEvent) -> None:
            if reply.message_str.startswith("/"):
                controller.pass_on(reply)  # commands are not for it: /rounds opens round 1
                return
            self.sessions_saw.append(f"older:{reply.message_str}")

        await anything(event, session_filter=UserSessionFilter())

    @command("rounds")
    async def rounds(self, event: MessageEvent) -> None:
        @session_waiter(timeout=600)
        async def round1(controller: SessionController, reply: MessageEvent) -> None:
            self.sessions_saw.append(f"round1:{reply.message_str}")
            await asyncio.sleep(1)
            controller.stop()

        busy: Literal["queue", "drop"] = "drop" if self.what_next == "newer_drop" else "queue"

        @session_waiter(timeout=600, busy=busy)
        async def round2(controller: SessionController, reply: MessageEvent) -> None:
            self.sessions_saw.append(f"round2:{reply.message_str}")
            await asyncio.sleep(1)

        await round1(event)
        if self.what_next.startswith("newer"):
            await round2(event)

    @on_message(priority=-10)
    async def fallback(self, event: MessageEvent) -> None:
        if not event.message_str.startswith("/"):
            self.handlers_saw.append(event.message_str)


@pytest.mark.parametrize("what_next", ["newer", "newer_drop", "older", "none"])
async def test_every_queued_message_goes_to_the_handlers_in_order(what_next: Next) -> None:
    plugin = Rounds(what_next)
    async with Simulator(plugins=[plugin]) as sim:
        alice = sim.user("alice")
        if what_next == "older":
            await sim.send(alice, "/older", group="other")
        await sim.send(alice, "/rounds", group="g")
        for text in ("a1", "x1", "x2", "x3"):
            await sim.send(alice, text, group="g")  # a1 is taken; the rest queue behind it
        assert plugin.sessions_saw == ["round1:a1"]
        await sim.advance(1)
        assert plugin.handlers_saw == ["x1", "x2", "x3"]
        assert plugin.sessions_saw == ["round1:a1"]  # not round 2, not the older session
        await sim.advance(5)
        assert plugin.handlers_saw == ["x1", "x2", "x3"]


class Room(SessionFilter):
    """One session per group, which a private command can also open by naming the group."""

    def filter(self, event: MessageEvent) -> str | None:
        return f"room|{event.group_id}" if event.group_id is not None else None

    def open_key(self, event: MessageEvent) -> str:
        return f"room|{event.group_id if event.group_id is not None else event.args[0]}"


class Host(Plugin):
    name = "host"

    def __init__(self) -> None:
        self.sessions_saw: list[str] = []
        self.handlers_saw: list[str] = []
        self.outcomes: list[str] = []

    @command("host")
    async def host(self, event: MessageEvent) -> None:
        who = "private" if event.group_id is None else "group"

        @session_waiter(timeout=600, conflict="replace")
        async def room(controller: SessionController, reply: MessageEvent) -> None:
            self.sessions_saw.append(f"{who}:{reply.message_str}")
            if reply.message_str == "slow":
                await asyncio.sleep(5)

        try:
            await room(event, session_filter=Room())
        except Exception as exc:
            self.outcomes.append(type(exc).__name__)

    @on_message(priority=-10)
    async def fallback(self, event: MessageEvent) -> None:
        if not event.message_str.startswith("/"):
            self.handlers_saw.append(event.message_str)


async def test_a_replaced_session_hands_its_queue_to_the_handlers_not_to_its_successor() -> None:
    plugin = Host()
    async with Simulator(plugins=[plugin]) as sim:
        alice, bob, admin = sim.user("alice"), sim.user("bob"), sim.user("admin")
        await sim.send(alice, "/host", group="g")
        await sim.send(alice, "slow", group="g")
        await sim.send(bob, "q1", group="g")  # queued behind "slow"
        await sim.send(bob, "q2", group="g")
        await sim.send(admin, "/host g")  # privately: replaces the group's session
        assert plugin.outcomes == ["SessionClosedError"]
        assert plugin.handlers_saw == ["q1", "q2"]
        assert plugin.sessions_saw == ["group:slow"]
        await sim.send(bob, "q3", group="g")  # sent after the replacement: it is the new one's
        assert plugin.sessions_saw == ["group:slow", "private:q3"]


class Quiz(Plugin):
    name = "quiz"

    def __init__(self) -> None:
        self.answers: list[str] = []
        self.reasons: list[str | None] = []

    @command("quiz")
    async def quiz(self, event: MessageEvent) -> None:
        await event.send("2 + 2?")

        @session_waiter(timeout=60)
        async def answer(controller: SessionController, reply: MessageEvent) -> None:
            self.answers.append(reply.message_str)

        controller = await answer.open(event, GroupSessionFilter())
        await controller.wait()
        self.reasons.append(controller.reason)


async def test_an_exit_word_held_behind_its_senders_handler_still_ends_the_session() -> None:
    plugin = Quiz()
    settings = Settings.load(session={"exit_words": ["exit"]})
    async with Simulator(plugins=[plugin], settings=settings) as sim:
        alice = sim.user("alice")
        # "exit" arrives before the /quiz handler has opened its session: it waits at the gate.
        sim.app.dispatch(sim.message(alice, "/quiz", group="g"))
        sim.app.dispatch(sim.message(alice, "exit", group="g"))
        await sim.settle()
        assert plugin.answers == []
        assert plugin.reasons == ["cancelled"]
        assert len(sim.app.sessions) == 0
