"""The Matrix adapter end to end against a real Synapse, with people on matrix-nio clients.

Every test opens rooms of its own on the one server of the run; the bot is the example
plugins, run by an App whose MatrixAdapter logs in as the bot account.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from example_plugins.echo import Echo
from example_plugins.idiom_chain import IdiomChain
from example_plugins.login import Login
from example_plugins.quiz import Quiz
from waiter_sdk import At, Image, MessageEvent, Plain, Plugin, command, on_message

from .conftest import Human, World, bot, group_room, humans

pytestmark = pytest.mark.e2e


async def test_echo_answers_in_a_group_room_and_its_session_takes_the_next_message(
    synapse_world: World,
) -> None:
    world = synapse_world
    async with humans(world) as (alice, bob, _), bot(world, [Echo]) as b:
        room = await group_room(world, alice, [bob])
        await alice.say(room, "/echo hello matrix")
        assert await alice.next_text(room, world.bot.user_id) == "hello matrix"
        # A one-question session: Bob's message is not Alice's answer, hers is.
        await alice.say(room, "/echo")
        assert await alice.next_text(room, world.bot.user_id) == "What should I repeat?"
        await b.session_opened()
        await bob.say(room, "/echo from bob")
        assert await alice.next_text(room, world.bot.user_id) == "from bob"
        await alice.say(room, "my answer")
        assert await alice.next_text(room, world.bot.user_id) == "my answer"


class QuickIdiomChain(IdiomChain):
    """The example game; its idle timeout never fires within a test."""

    idle_timeout = 600.0


async def test_three_people_play_the_idiom_chain_in_one_room(synapse_world: World) -> None:
    world = synapse_world
    bot_id = world.bot.user_id
    async with humans(world) as (alice, bob, carol), bot(world, [QuickIdiomChain]) as b:
        room = await group_room(world, alice, [bob, carol])
        await alice.say(room, "/idiom-chain 一心一意")
        intro = await carol.next_text(room, bot_id)
        assert intro.startswith("成语接龙! Anyone here may answer. First idiom: 一心一意")
        await b.session_opened()
        await bob.say(room, "意气风发")
        assert await carol.next_text(room, bot_id) == "✓ Bob +1 (1 in all). Next starts with 发."
        await carol.say(room, "发愤图强")
        assert await carol.next_text(room, bot_id) == "✓ Carol +1 (1 in all). Next starts with 强."
        await bob.say(room, "马到成功")
        assert await carol.next_text(room, bot_id) == "✗ 马到成功 does not start with 强."
        await alice.say(room, "意气风发")
        assert await carol.next_text(room, bot_id) == "✗ 意气风发 was already used."
        await bob.say(room, "强词夺理")
        assert await carol.next_text(room, bot_id) == "✓ Bob +1 (2 in all). Next starts with 理."
        await carol.say(room, "退出")
        assert await carol.next_text(room, bot_id) == (
            "Game over: Carol ended it. Winner: Bob (2 points). Scores: Bob 2, Carol 1."
        )
        # Every member saw the same conversation.
        await alice.wait_event(room, lambda e: e["content"].get("body", "").startswith("Game over"))
        seen = [
            e["content"]["body"]
            for e in alice.events[room]
            if e.get("sender") == bot_id and e.get("type") == "m.room.message"
        ]
        assert len(seen) == 7 and seen[-1].startswith("Game over: Carol ended it.")


async def test_login_asks_username_then_password_in_a_direct_chat(synapse_world: World) -> None:
    world = synapse_world
    bot_id = world.bot.user_id
    async with humans(world) as (alice, _, _), bot(world, [Login]):
        room = await alice.create_room([bot_id], direct=True)
        await alice.wait_joined(room, bot_id)
        await alice.say(room, "/login")
        # Private: no "I've sent you a private message", the question comes here at once.
        assert await alice.next_text(room, bot_id) == "Login: your username? (cancel to stop)"
        await alice.say(room, "alice")
        assert await alice.next_text(room, bot_id) == "Password?"
        await alice.say(room, "wonderland")
        assert await alice.next_text(room, bot_id) == "✓ Welcome, alice! You are logged in."


async def test_login_from_a_group_opens_a_direct_room_with_the_user(synapse_world: World) -> None:
    world = synapse_world
    bot_id = world.bot.user_id
    # Someone the bot has no private room with yet: a fresh account.
    dave = Human(world.server, world.server.register(f"dave-{secrets.token_hex(3)}"), "Dave")
    await dave.start()
    try:
        async with humans(world) as (alice, _, _), bot(world, [Login]):
            group = await group_room(world, alice, [dave])
            await dave.say(group, "/login")
            assert (
                await dave.next_text(group, bot_id)
                == "Dave, I've sent you a private message to log in."
            )
            direct = await dave.wait_invited()
            await dave.join(direct)
            assert await dave.next_text(direct, bot_id) == "Login: your username? (cancel to stop)"
            await dave.say(direct, "bob")
            assert await dave.next_text(direct, bot_id) == "Password?"
            await dave.say(direct, "wrong")
            assert await dave.next_text(direct, bot_id) == (
                "✗ Wrong username or password. 2 left. Password?"
            )
            await dave.say(direct, "builder")
            assert await dave.next_text(direct, bot_id) == "✓ Welcome, bob! You are logged in."
            # The password was never said in the group.
            assert all("builder" not in str(e) for e in alice.events[group])
    finally:
        await dave.close()


async def test_a_quoted_reply_answers_the_quiz_question_it_quotes(synapse_world: World) -> None:
    world = synapse_world
    bot_id = world.bot.user_id
    async with humans(world) as (alice, bob, _), bot(world, [Quiz]) as b:
        room = await group_room(world, alice, [bob])
        await alice.say(room, "/quiz math")
        question = await alice.next_from(room, bot_id)
        assert question["content"]["body"].startswith("❓ [math] What is 6 × 7?")
        await b.session_opened()
        await bob.say(room, "42")  # quotes nothing: ordinary chat, no answer
        wrong = await bob.say(room, "41", reply_to=question["event_id"])
        refusal = await alice.next_from(room, bot_id)
        assert refusal["content"]["body"] == "✗ Not “41”. Quote to try again."
        # The bot's reply quotes the answer and mentions whom it answers.
        assert refusal["content"]["m.relates_to"] == {"m.in_reply_to": {"event_id": wrong}}
        assert refusal["content"]["m.mentions"]["user_ids"] == [bob.user_id]
        # Quoting the bot's refusal belongs to the same quiz.
        right = await alice.say(room, "42", reply_to=refusal["event_id"])
        answer = await alice.next_from(room, bot_id)
        assert answer["content"]["body"] == "✓ Right, Alice: 42!"
        assert answer["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == right


class Poke(Plugin):
    """/poke answers with a quote and a mention of the sender."""

    name = "poke"

    @command("poke")
    async def poke(self, event: MessageEvent):
        who = "me" if event.to_me else "someone"
        yield event.chain_result(
            [At(event.sender_id, event.sender_name), Plain(f" you poked {who}")]
        )


async def test_mentions_both_ways_pills_and_m_mentions(synapse_world: World) -> None:
    world = synapse_world
    bot_id = world.bot.user_id
    pill = f'<a href="https://matrix.to/#/{bot_id}">waiterbot</a>: /poke'
    async with humans(world) as (alice, bob, _), bot(world, [Poke]):
        room = await group_room(world, alice, [bob])
        # As Element sends a mention: the pill in formatted_body, the name in body.
        await alice.say(
            room,
            "waiterbot: /poke",
            format="org.matrix.custom.html",
            formatted_body=pill,
            **{"m.mentions": {"user_ids": [bot_id]}},
        )
        reply = (await alice.next_from(room, bot_id))["content"]
        assert reply["body"] == "Alice you poked me"
        assert reply["m.mentions"] == {"user_ids": [alice.user_id]}
        assert reply["formatted_body"] == (
            f'<a href="https://matrix.to/#/{alice.user_id}">Alice</a> you poked me'
        )
        await bob.say(room, "/poke")  # no mention: a command all the same, not to the bot
        assert (await alice.next_from(room, bot_id))["content"]["body"] == "Bob you poked someone"


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


class Picture(Plugin):
    """/picture sends an image file; any image received is described."""

    name = "picture"
    path = ""

    @command("picture")
    async def picture(self, event: MessageEvent):
        yield event.chain_result([Plain("here:"), Image(self.path)])

    @on_message(priority=-1)
    async def describe(self, event: MessageEvent) -> None:
        images = [c for c in event.message if isinstance(c, Image)]
        if images:
            await event.send(f"got {images[0].file}")


async def test_images_are_uploaded_and_received_as_mxc_uris(
    synapse_world: World, tmp_path: Path
) -> None:
    world = synapse_world
    bot_id = world.bot.user_id
    Picture.path = str(tmp_path / "dot.png")
    (tmp_path / "dot.png").write_bytes(PNG)
    async with humans(world) as (alice, bob, _), bot(world, [Picture]):
        room = await group_room(world, alice, [bob])
        await alice.say(room, "/picture")
        assert await alice.next_text(room, bot_id) == "here:"
        image = (await alice.next_from(room, bot_id))["content"]
        assert image["msgtype"] == "m.image" and image["body"] == "dot.png"
        assert image["url"].startswith("mxc://waiter.test/")
        assert image["info"] == {"mimetype": "image/png", "size": len(PNG)}
        await bob.say(room, "", msgtype="m.image", url=image["url"])
        assert await alice.next_text(room, bot_id) == f"got {image['url']}"
