"""The Matrix adapter end to end against a real Synapse, with people on matrix-nio clients.

Every test opens rooms of its own on the one server of the run; the bot is the example
plugins, run by an App whose MatrixAdapter logs in as the bot account.
"""

from __future__ import annotations

import pytest

from example_plugins.echo import Echo
from example_plugins.idiom_chain import IdiomChain
from example_plugins.login import Login
from example_plugins.quiz import Quiz
from waiter_sdk import At, MessageEvent, Plain, Plugin, command

from .conftest import World, bot, group_room, humans

pytestmark = pytest.mark.e2e


async def test_echo_answers_in_a_group_room_and_its_session_takes_the_next_message(
    synapse_world: World,
) -> None:
    world = synapse_world
    async with humans(world) as (alice, bob, _), bot(world, [Echo]):
        room = await group_room(world, alice, [bob])
        await alice.say(room, "/echo hello matrix")
        assert await alice.next_text(room, world.bot.user_id) == "hello matrix"
        # A one-question session: Bob's message is not Alice's answer, hers is.
        await alice.say(room, "/echo")
        assert await alice.next_text(room, world.bot.user_id) == "What should I repeat?"
        await bob.say(room, "/echo from bob")
        assert await alice.next_text(room, world.bot.user_id) == "from bob"
        await alice.say(room, "my answer")
        assert await alice.next_text(room, world.bot.user_id) == "my answer"
