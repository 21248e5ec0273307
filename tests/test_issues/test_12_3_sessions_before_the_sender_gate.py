"""Issue 12.3: a message that an open session takes never waits behind its sender's handler.

docs/bus.md listed session routing before the sender gate, while `App.dispatch` checked the
gate first: a player's answer to another member's group game waited out `order_window` while
the player's own `/weather` was still being handled. The order is now the documented one: exit
words, sessions, the gate, the handlers. What the gate holds is only what no session takes, so
`/login` then `alice` at once still reaches the login session.
"""

from __future__ import annotations

import asyncio

from tests.kit import texts
from waiter_sdk import (
    GroupSessionFilter,
    MessageEvent,
    Plugin,
    SessionController,
    command,
    session_waiter,
)
from waiter_sdk.testing import Simulator


class Games(Plugin):
    name = "games"

    @command("game")
    async def game(self, event: MessageEvent) -> None:
        @session_waiter(timeout=600)
        async def play(controller: SessionController, reply: MessageEvent) -> None:
            if reply.message_str.startswith("/"):
                controller.pass_on(reply)  # commands are not moves
                return
            await reply.send(f"{reply.sender_id} plays {reply.message_str}")

        await play(event, session_filter=GroupSessionFilter())

    @command("weather")
    async def weather(self, event: MessageEvent) -> None:
        await asyncio.sleep(1.5)  # a slow lookup: bob's gate stays closed meanwhile
        await event.send("sunny")

    @command("login")
    async def login(self, event: MessageEvent) -> None:
        await event.send("Username?")
        name = await event.prompt(timeout=30)
        await event.send(f"Welcome, {name}")


async def test_a_move_for_a_group_game_does_not_wait_behind_its_senders_handler() -> None:
    async with Simulator(plugins=[Games]) as sim:
        carol, bob = sim.user("carol"), sim.user("bob")
        await sim.send(carol, "/game", group="g")
        assert await sim.send(bob, "/weather", group="g") == []  # passed on; sleeping
        assert texts(await sim.send(bob, "apple", group="g")) == ["bob plays apple"]
        assert texts(await sim.advance(1.5)) == ["sunny"]


async def test_the_gate_still_holds_what_no_session_takes_yet() -> None:
    async with Simulator(plugins=[Games]) as sim:
        alice = sim.user("alice")
        sim.app.dispatch(sim.message(alice, "/login", group="g"))
        sim.app.dispatch(sim.message(alice, "alice", group="g"))  # before the prompt opened
        assert texts(await sim.settle()) == ["Username?", "Welcome, alice"]
