"""Issue 11.4: a quoted-reply session owns every message of its conversation, not only the bot's.

As the JS bot whose sessions follow quotes defines it: an event reaches the session only if it
quotes a message that belongs to the session, and those are the bot's messages (sent by the
session or by the handler that opened it), the opening message, and the user messages delivered
to it. Only the bot's messages counted here. `bot_messages_only=True` keeps the old rule.
"""

from __future__ import annotations

from tests.kit import texts
from waiter_sdk import (
    MessageEvent,
    Plugin,
    ReplySessionFilter,
    SessionController,
    command,
    session_waiter,
)
from waiter_sdk.testing import Simulator


class Thread(Plugin):
    """``/thread``: a conversation that goes on wherever someone quotes a message of it."""

    name = "thread"

    def __init__(self, bot_only: bool) -> None:
        self.bot_only = bot_only

    @command("thread")
    async def thread(self, event: MessageEvent) -> None:
        await event.send("Thread open: quote any message of it")

        @session_waiter(timeout=600)
        async def follow(controller: SessionController, reply: MessageEvent) -> None:
            await reply.send(f"in thread: {reply.message_str}")

        await follow(event, session_filter=ReplySessionFilter(bot_messages_only=self.bot_only))


async def test_quoting_the_opening_or_a_delivered_message_reaches_the_session() -> None:
    async with Simulator(plugins=[Thread(bot_only=False)]) as sim:
        alice, bob = sim.user("alice"), sim.user("bob")
        opening = sim.message(alice, "/thread", group="g")
        (bot_msg,) = await sim.dispatch(opening)
        first = sim.message(bob, "first", group="g", reply_to=bot_msg.message_id)
        assert texts(await sim.dispatch(first)) == ["in thread: first"]
        # Bob's "first" was delivered, so it belongs to the thread: quoting it goes on.
        out = await sim.send(alice, "second", group="g", reply_to=first.message_id)
        assert texts(out) == ["in thread: second"]
        # So does quoting the message that opened it.
        out = await sim.send(alice, "third", group="g", reply_to=opening.message_id)
        assert texts(out) == ["in thread: third"]
        assert await sim.send(alice, "elsewhere", group="g", reply_to="999") == []


async def test_bot_messages_only_keeps_to_what_the_bot_sent() -> None:
    async with Simulator(plugins=[Thread(bot_only=True)]) as sim:
        alice, bob = sim.user("alice"), sim.user("bob")
        opening = sim.message(alice, "/thread", group="g")
        (bot_msg,) = await sim.dispatch(opening)
        answer = sim.message(bob, "first", group="g", reply_to=bot_msg.message_id)
        (echo,) = await sim.dispatch(answer)
        assert await sim.send(alice, "x", group="g", reply_to=answer.message_id) == []
        assert await sim.send(alice, "y", group="g", reply_to=opening.message_id) == []
        out = await sim.send(alice, "z", group="g", reply_to=echo.message_id)
        assert texts(out) == ["in thread: z"]
