"""Issue 11.10 (found by tests/session/test_model.py): the sender gate reordered handlers' input.

API rule 8: messages queued behind a running waiter call when the session ends go on to the
plugin handlers "in order, as if no session had existed"; API section 3: "every handler sees
messages in arrival order". With the sender gate on (``session.order_window`` > 0, the default),
a handler sees the messages of one instant out of order as soon as one sender has two of them
with another sender's message in between:

- A group session's call is busy; bob's ``b1``, bob's ``b2`` and cy's ``c1`` queue behind it.
  When the call stops the session, a low-priority handler sees ``b1, c1, b2``.
- ``b1``, ``b2`` (bob) and ``c1`` (cy) arrive in one loop turn with no session open: the handler
  sees ``b1, c1, b2`` as well.

The cause was: ``b1`` goes to the handlers and closes bob's gate, ``b2`` waits at it, ``c1`` goes
on; ``b2`` was published only when ``b1``'s handlers had finished, behind ``c1``. Now a message
handed back by a session (rule 8) goes straight to the handlers, in order, and a message held at
its sender's gate keeps its place: a later message waits before each handler the held one would
reach, and only before those, until it is released (at most ``order_window``).
"""

from __future__ import annotations

import asyncio

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
from waiter_sdk.testing import Simulator


class Game(Plugin):
    name = "game"

    def __init__(self) -> None:
        self.handlers_saw: list[str] = []

    @command("game")
    async def game(self, event: MessageEvent) -> None:
        @session_waiter(timeout=60)
        async def play(controller: SessionController, reply: MessageEvent) -> None:
            await asyncio.sleep(1)  # busy: what follows queues behind this call
            controller.stop()

        await play(event, session_filter=GroupSessionFilter())

    @on_message(priority=-10)
    async def journal(self, event: MessageEvent) -> None:
        if not event.message_str.startswith("/"):
            self.handlers_saw.append(event.message_str)


async def released(window: float) -> list[str]:
    game = Game()
    settings = Settings.load(session={"order_window": window})
    async with Simulator(plugins=[game], settings=settings) as sim:
        ann, bob, cy = sim.user("ann"), sim.user("bob"), sim.user("cy")
        await sim.send(ann, "/game", group="g")
        await sim.send(ann, "go", group="g")  # taken: the call works for 1 s
        await sim.send(bob, "b1", group="g")  # queued behind it, in this order
        await sim.send(bob, "b2", group="g")
        await sim.send(cy, "c1", group="g")
        assert game.handlers_saw == []
        await sim.advance(1)  # the call stops the session: rule 8 hands the queue on
    return game.handlers_saw


async def one_turn(window: float) -> list[str]:
    game = Game()
    settings = Settings.load(session={"order_window": window})
    async with Simulator(plugins=[game], settings=settings) as sim:
        bob, cy = sim.user("bob"), sim.user("cy")
        for user, text in ((bob, "b1"), (bob, "b2"), (cy, "c1")):
            sim.app.dispatch(sim.message(user, text, group="g"))
        await sim.settle()
    return game.handlers_saw


async def test_rule8_released_queue_reaches_the_handlers_in_order() -> None:
    assert await released(window=2.0) == ["b1", "b2", "c1"]


async def test_section3_one_loop_turn_reaches_the_handlers_in_arrival_order() -> None:
    assert await one_turn(window=2.0) == ["b1", "b2", "c1"]


async def test_without_the_gate_the_order_is_kept() -> None:
    assert await released(window=0.0) == ["b1", "b2", "c1"]
    assert await one_turn(window=0.0) == ["b1", "b2", "c1"]


class Busy(Plugin):
    """bob's /slow works 5 s; a journal sees every message; /ping answers at once."""

    name = "busy"

    def __init__(self) -> None:
        self.journal: list[tuple[str, float]] = []

    @command("slow")
    async def slow(self, event: MessageEvent) -> None:
        await asyncio.sleep(5)

    @command("ping")
    async def ping(self, event: MessageEvent) -> None:
        await event.send("pong")

    @on_message(priority=-10)
    async def journal_all(self, event: MessageEvent) -> None:
        self.journal.append((event.message_str, asyncio.get_running_loop().time()))


async def test_a_held_message_holds_back_only_the_handlers_it_would_reach() -> None:
    busy = Busy()
    settings = Settings.load(session={"order_window": 2.0})
    async with Simulator(plugins=[busy], settings=settings) as sim:
        bob, cy = sim.user("bob"), sim.user("cy")
        await sim.send(bob, "/slow", group="g")  # bob's gate closes for 5 s (window: 2 s)
        await sim.send(bob, "b2", group="g")  # held at bob's gate
        # cy's command is not something b2 would reach: it answers at once...
        assert [o.text for o in await sim.send(cy, "/ping", group="g")] == ["pong"]
        # ...but the journal, which b2 would reach, sees cy's /ping only after b2.
        assert busy.journal == []
        await sim.advance(2)  # the window: b2 goes on, then cy's /ping
        assert busy.journal == [("b2", 2.0), ("/ping", 2.0)]
        # (/slow's own chain is still in its command: a handler that waits on anything
        # but a session holds back only the rest of its own chain.)
        await sim.advance(3)
        assert busy.journal[-1] == ("/slow", 5.0)
