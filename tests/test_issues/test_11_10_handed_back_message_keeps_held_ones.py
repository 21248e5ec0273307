"""Issue 11.10, after f1d6dce (found while updating tests/session/test_model.py): a message a
session hands back replaces its sender's gate and loses what that gate held.

A message that a session hands back when it ends (API rule 8) goes to the handlers past the
gates, and closes its sender's gate like any message that reaches the handlers. If that gate is
already closed and holds messages, ``Gates.close`` puts a new gate in its place: the old one is
never opened again (``Gates.open`` checks identity), so what it held never goes on, and the
places those messages keep are never given up, so every later message's catch-all handler waits
for them until the app stops. In group ``g`` (``order_window`` 2 s, the default):

- in one loop turn: ann ``/slow 5`` (her gate closes), ann ``hello`` (held at it, keeps its place),
  bob ``/game`` (opens a group session whose call works 1 s on each message, then stops it);
- ann ``a1`` (taken by the session), ann ``a2`` (queued behind the call);
- at 1 s the call stops the session and rule 8 hands ``a2`` to the handlers: ann's gate is
  replaced. ``hello`` reaches nothing, ever; the journal sees neither ``/game``, ``a2``, nor bob's
  ``later`` sent at 3 s. Expected: ``hello`` goes on when ann's gate opens (at 2 s at the latest),
  and the journal sees every message.
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
        self.session_saw: list[str] = []
        self.saw: list[tuple[str, float]] = []

    @command("slow")
    async def slow(self, event: MessageEvent) -> None:
        await asyncio.sleep(float(event.args[0]))  # its sender's gate stays closed meanwhile

    @command("game")
    async def game(self, event: MessageEvent) -> None:
        @session_waiter(timeout=60)
        async def play(controller: SessionController, reply: MessageEvent) -> None:
            self.session_saw.append(reply.message_str)
            await asyncio.sleep(1)  # busy: what follows queues behind this call
            controller.stop()

        await play(event, session_filter=GroupSessionFilter())

    @on_message(priority=-10)
    async def note(self, event: MessageEvent) -> None:
        self.saw.append((event.message_str, asyncio.get_running_loop().time()))


async def test_a_handed_back_message_does_not_lose_held_ones() -> None:
    game = Game()
    settings = Settings.load(session={"order_window": 2.0})
    async with Simulator(plugins=[game], settings=settings) as sim:
        ann, bob = sim.user("ann"), sim.user("bob")
        for user, text in ((ann, "/slow 5"), (ann, "hello"), (bob, "/game")):
            sim.app.dispatch(sim.message(user, text, group="g"))  # one loop turn
        await sim.settle()
        await sim.send(ann, "a1", group="g")  # taken by the group session: its call works 1 s
        await sim.send(ann, "a2", group="g")  # queued behind it
        assert game.session_saw == ["a1"]
        await sim.advance(3)  # the call stops the session at 1 s; ann's gate's window ends at 2 s
        await sim.send(bob, "later", group="g")
        texts = [text for text, _ in game.saw]
        assert "hello" in texts  # at 2 s at the latest, the order window
        assert {"/game", "a2"} <= set(texts)
        assert game.saw[-1] == ("later", 3.0)
