"""example_plugins.parrot: botoy's parrot (start / repeat / q / 20 s timeout), in virtual time."""

from __future__ import annotations

from example_plugins.parrot import Parrot
from tests.kit import Fallback, texts
from waiter_sdk import Image, MessageChain, Plain
from waiter_sdk.testing import Simulator

ON = "🦜 Parrot on: I repeat what you say. Send q to stop."
BYE = "🦜 Bye!"
FLEW = "🦜 20 s without a word: the parrot flew away."


async def test_seed_parrot_starts_repeats_stops_on_q_and_flies_away_after_20_s() -> None:
    async with Simulator(plugins=[Parrot, Fallback]) as sim:
        alice = sim.user("alice", "Alice")
        assert texts(await sim.send(alice, "/parrot", group="g1")) == [ON]
        assert texts(await sim.send(alice, "hello", group="g1")) == ["hello"]
        assert texts(await sim.send(alice, "你好", group="g1")) == ["你好"]
        assert texts(await sim.send(alice, "q", group="g1")) == [BYE]
        # The session is over: the next message is handled normally (botoy would lose it).
        assert texts(await sim.send(alice, "hello", group="g1")) == ["plugin saw hello"]

        assert texts(await sim.send(alice, "/复读机", group="g1")) == [ON]
        assert await sim.advance(19.9) == []
        out = await sim.advance(0.1)
        assert texts(out) == [FLEW]
        assert out[0].group_id == "g1"
        assert len(sim.app.sessions) == 0
        assert texts(await sim.send(alice, "still there?", group="g1")) == [
            "plugin saw still there?"
        ]


async def test_each_message_gives_the_parrot_another_20_s() -> None:
    async with Simulator(plugins=[Parrot]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/parrot")
        for word in ("one", "two", "three"):
            await sim.advance(15)
            assert texts(await sim.send(alice, word)) == [word]
        assert await sim.advance(19.9) == []
        assert texts(await sim.advance(0.1)) == [FLEW]


async def test_only_the_starter_is_repeated_in_a_group_plus_their_private_messages() -> None:
    async with Simulator(plugins=[Parrot, Fallback]) as sim:
        alice, bob = sim.user("alice"), sim.user("bob")
        await sim.send(alice, "/parrot", group="g1")
        assert texts(await sim.send(bob, "hi all", group="g1")) == ["plugin saw hi all"]
        # botoy's member scope: the starter's private chat belongs to the session too.
        out = await sim.send(alice, "psst")
        assert [(o.user_id, o.text) for o in out] == [("alice", "psst")]
        assert texts(await sim.send(alice, "elsewhere", group="g2")) == ["plugin saw elsewhere"]
        assert texts(await sim.send(alice, "q", group="g1")) == [BYE]


async def test_the_whole_message_is_repeated_images_included() -> None:
    async with Simulator(plugins=[Parrot]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/parrot")
        message = MessageChain([Plain("look: "), Image("https://example.com/cat.png")])
        [out] = await sim.send(alice, message)
        assert out.chain == message


async def test_two_people_can_each_have_a_parrot_in_one_group() -> None:
    async with Simulator(plugins=[Parrot]) as sim:
        alice, bob = sim.user("alice"), sim.user("bob")
        await sim.send(alice, "/parrot", group="g1")
        await sim.send(bob, "/parrot", group="g1")
        assert texts(await sim.send(alice, "a", group="g1")) == ["a"]
        assert texts(await sim.send(bob, "b", group="g1")) == ["b"]
        assert texts(await sim.send(bob, "q", group="g1")) == [BYE]
        assert texts(await sim.send(alice, "still", group="g1")) == ["still"]
        assert len(sim.app.sessions) == 1
