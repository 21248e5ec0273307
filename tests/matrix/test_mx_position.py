"""The sync position against a real Synapse: a restart goes on where the last run stopped
(nothing replayed, nothing that came meanwhile lost), and a first start answers no history."""

from __future__ import annotations

from pathlib import Path

import pytest

from example_plugins.echo import Echo
from waiter_sdk.adapters.matrix.position import BUCKET
from waiter_sdk.storage import Storage

from .conftest import World, bot, group_room, humans

pytestmark = pytest.mark.e2e


async def stored_position(storage: str, bot_id: str) -> str | None:
    store = Storage(storage)
    try:
        return await store.kv(BUCKET).get(f"since {bot_id}")
    finally:
        await store.close()


def bot_says(events: list[dict], bot_id: str) -> list[str]:
    return [
        e["content"].get("body", "")
        for e in events
        if e.get("sender") == bot_id and e.get("type") == "m.room.message"
    ]


async def test_a_restart_replays_nothing_and_answers_what_came_while_it_was_down(
    synapse_world: World, tmp_path: Path
) -> None:
    world = synapse_world
    bot_id = world.bot.user_id
    storage = f"sqlite:///{tmp_path}/bot.db"
    async with humans(world) as (alice, bob, _):
        async with bot(world, [Echo], storage=storage) as first:
            room = await group_room(world, alice, [bob])
            await alice.say(room, "/echo one")
            assert await alice.next_text(room, bot_id) == "one"
        # Stopped: its last position is stored.
        stored = await stored_position(storage, bot_id)
        assert stored is not None and stored == first.adapter.since
        await alice.say(room, "/echo two")  # while the bot is down
        async with bot(world, [Echo], storage=storage) as second:
            assert await alice.next_text(room, bot_id) == "two"
            await alice.say(room, "/echo three")
            assert await alice.next_text(room, bot_id) == "three"
            # Exactly one answer each: "one" was not answered again after the restart.
            assert bot_says(alice.events[room], bot_id) == ["one", "two", "three"]
            assert second.adapter.since != stored


async def test_a_first_start_answers_no_history_and_no_message_from_before_its_join(
    synapse_world: World,
) -> None:
    world = synapse_world
    bot_id = world.bot.user_id
    async with humans(world) as (alice, bob, _):
        # Said before the bot was even invited: the room's past, not for the bot.
        room = await alice.create_room([bob.user_id])
        await bob.join(room)
        await alice.say(room, "/echo before the invite")
        async with bot(world, [Echo]) as first:
            await alice.client.room_invite(room, bot_id)
            await alice.wait_joined(room, bot_id)
            await alice.say(room, "/echo after the join")
            assert await alice.next_text(room, bot_id) == "after the join"
            del first
        # Said while no bot ran, and the next bot has no stored position (memory storage):
        # a first start, which answers nothing of the past.
        await alice.say(room, "/echo history")
        async with bot(world, [Echo]):
            await alice.say(room, "/echo fresh")
            assert await alice.next_text(room, bot_id) == "fresh"
        assert bot_says(alice.events[room], bot_id) == ["after the join", "fresh"]
