"""Synapse's own rate limiter: a bot account limited to a couple of messages a second still
gets every message out, in order, by waiting as the 429 answers ask."""

from __future__ import annotations

import secrets

import pytest

from waiter_sdk import MessageEvent, Plugin, command

from .conftest import World, bot, humans

pytestmark = pytest.mark.e2e


class Burst(Plugin):
    name = "burst"

    @command("burst")
    async def burst(self, event: MessageEvent) -> None:
        for n in range(1, 5):
            await event.send(f"b{n}")


async def test_a_rate_limited_bot_waits_as_told_and_sends_everything(
    synapse_world: World, logs: list[str]
) -> None:
    world = synapse_world
    limited = world.server.register(f"ratebot-{secrets.token_hex(3)}")
    # Two messages a second, no burst: four quick sends must meet 429s.
    world.server.limit_messages(limited.user_id, per_second=2, burst=1)
    async with humans(world) as (alice, bob, _), bot(world, [Burst], account=limited):
        room = await alice.create_room([bob.user_id, limited.user_id])
        await bob.join(room)
        await alice.wait_joined(room, bob.user_id)
        await alice.wait_joined(room, limited.user_id)
        await alice.say(room, "/burst")
        assert [await alice.next_text(room, limited.user_id) for _ in range(4)] == [
            "b1",
            "b2",
            "b3",
            "b4",
        ]
    waits = [line for line in logs if "rate limited by the homeserver; retrying in" in line]
    assert waits, "no 429 was met: the limit did not bite"
    assert all(line.startswith("INFO matrix send") or "matrix join" in line for line in waits)
