"""Conversations end to end against the real satori-python server (``peer.py``).

The example plugins as users meet them: the parrot, the login that moves to a direct channel,
the idiom chain played by three members of one group; a session that follows quoted replies;
resuming after the server drops the socket (no event lost, none twice); two logins on one
connection, each answered as itself.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator

from example_plugins.idiom_chain import IdiomChain
from example_plugins.login import Login
from example_plugins.parrot import Parrot
from waiter_sdk import (
    MessageEvent,
    MessageEventResult,
    Plugin,
    ReplySessionFilter,
    SessionController,
    command,
    session_waiter,
)

from .conftest import ALPHA, BETA, rig
from .peer_kit import PEER_TOKEN, PeerProcess

GROUP = "g-100"


def text(record: dict[str, object]) -> str:
    """The plain text of a sent content string (these replies carry no elements)."""
    content = record["content"]
    assert isinstance(content, str)
    return html.unescape(content)


async def test_parrot_repeats_its_starter_until_q(satori_peer: PeerProcess) -> None:
    async with rig(satori_peer, [Parrot]) as r:
        peer = r.peer
        await peer.inject("alice", "/parrot", channel=GROUP, name="Alice")
        hello = await peer.next_sent()
        assert text(hello) == "🦜 Parrot on: I repeat what you say. Send q to stop."
        # As the login that received it, into the channel it came from, with our token.
        assert (hello["platform"], hello["self_id"], hello["channel_id"]) == (
            "alpha",
            "bot-a",
            GROUP,
        )
        assert hello["authorization"] == f"Bearer {PEER_TOKEN}"
        assert hello["content_type"] == "application/json"
        await r.session_opened()
        await peer.inject("alice", 'hello & <you> "there"', channel=GROUP)
        assert text(await peer.next_sent()) == 'hello & <you> "there"'
        await peer.inject("bob", "not the starter", channel=GROUP)  # Bob is not parroted
        await peer.inject("alice", 'pic <img src="https://example.org/a.png"/>', channel=GROUP)
        # The whole message is repeated: the image element goes back out as one.
        assert (await peer.next_sent())["content"] == 'pic <img src="https://example.org/a.png"/>'
        await peer.inject("alice", "q", channel=GROUP)
        assert text(await peer.next_sent()) == "🦜 Bye!"
        await peer.inject("alice", "after the end", channel=GROUP)
        await peer.inject("carol", "/parrot", channel="private:carol", direct=True)  # a probe
        probe = await peer.next_sent()
        assert (probe["channel_id"], text(probe)) == (
            "private:carol",
            "🦜 Parrot on: I repeat what you say. Send q to stop.",
        )


async def test_login_asks_in_a_direct_channel(satori_peer: PeerProcess) -> None:
    async with rig(satori_peer, [Login]) as r:
        peer = r.peer
        await peer.inject("alice", "/login", channel=GROUP, name="Alice")
        hint = await peer.next_sent()
        assert (hint["channel_id"], text(hint)) == (
            GROUP,
            "Alice, I've sent you a private message to log in.",
        )
        # Alice never wrote to the bot in private: the adapter opened the direct channel with
        # user.channel.create, which the platform answered with 'private:alice'.
        question = await peer.next_sent()
        assert (question["channel_id"], text(question)) == (
            "private:alice",
            "Login: your username? (cancel to stop)",
        )
        await peer.inject("alice", "alice", channel="private:alice", direct=True, name="Alice")
        assert text(await peer.next_sent()) == "Password?"
        await peer.inject("alice", "wonderland", channel="private:alice", direct=True)
        welcome = await peer.next_sent()
        assert (welcome["channel_id"], text(welcome)) == (
            "private:alice",
            "✓ Welcome, alice! You are logged in.",
        )
        # Bob starts in his direct channel: the whole login stays there.
        bob = {"channel": "private:bob", "direct": True, "name": "Bob"}
        await peer.inject("bob", "/login", **bob)  # type: ignore[arg-type]
        question = await peer.next_sent()
        assert (question["channel_id"], text(question)) == (
            "private:bob",
            "Login: your username? (cancel to stop)",
        )
        await peer.inject("bob", "bob", **bob)  # type: ignore[arg-type]
        assert text(await peer.next_sent()) == "Password?"
        await peer.inject("bob", "builder", **bob)  # type: ignore[arg-type]
        welcome = await peer.next_sent()
        assert (welcome["channel_id"], text(welcome)) == (
            "private:bob",
            "✓ Welcome, bob! You are logged in.",
        )
        # Neither password ever went back out.
        assert not [s for s in peer.taken if {"wonderland", "builder"} & set(text(s).split())]


async def test_three_members_play_the_idiom_chain(satori_peer: PeerProcess) -> None:
    async with rig(satori_peer, [IdiomChain]) as r:
        peer = r.peer

        async def say(user: str, name: str, words: str) -> str:
            await peer.inject(user, words, channel=GROUP, name=name)
            sent = await peer.next_sent()
            assert sent["channel_id"] == GROUP
            return text(sent)

        opening = await say("a", "Alice", "/idiom-chain 一心一意")
        assert opening.startswith("成语接龙! Anyone here may answer. First idiom: 一心一意")
        await r.session_opened()
        assert await say("b", "Bob", "意气风发") == "✓ Bob +1 (1 in all). Next starts with 发."
        assert await say("a", "Alice", "一二三四") == "✗ 一二三四 is not an idiom I know."
        assert await say("a", "Alice", "发愤图强") == "✓ Alice +1 (1 in all). Next starts with 强."
        assert await say("b", "Bob", "强词夺理") == "✓ Bob +1 (2 in all). Next starts with 理."
        assert await say("c", "Carol", "退出") == (
            "Game over: Carol ended it. Winner: Bob (2 points). Scores: Bob 2, Alice 1."
        )
        await r.session_ended()
        assert len(r.app.sessions) == 0


class Riddle(Plugin):
    """Answers go to the riddle by quoting it (or an earlier answer), in any order."""

    name = "riddle"

    @command("riddle")
    async def riddle(self, event: MessageEvent) -> AsyncIterator[MessageEventResult]:
        yield event.plain_result("What has keys but no locks? Quote me to answer.")

        @session_waiter(timeout=30)
        async def answer(controller: SessionController, reply: MessageEvent) -> None:
            if "piano" in reply.message_str:
                await reply.send(f"Right, {reply.sender_name}!")
                controller.stop()
            else:
                await reply.send("No. Quote me again.")

        await answer(event, session_filter=ReplySessionFilter(bot_messages_only=True))


async def test_a_session_follows_quoted_replies(satori_peer: PeerProcess) -> None:
    async with rig(satori_peer, [Riddle]) as r:
        peer = r.peer
        await peer.inject("alice", "/riddle", channel=GROUP, name="Alice")
        question = await peer.next_sent()
        await r.session_opened()
        # Not quoting: not an answer (the probe below proves nothing was sent for it).
        await peer.inject("bob", "a piano", channel=GROUP, name="Bob")
        quote = f'<quote id="{question["message_id"]}"/>'
        await peer.inject("bob", quote + "a map?", channel=GROUP, name="Bob")
        no = await peer.next_sent()
        assert text(no) == "No. Quote me again."
        # Quoting the bot's later answer continues the same session.
        await peer.inject(
            "carol", f'<quote id="{no["message_id"]}"/>a piano', channel=GROUP, name="Carol"
        )
        right = await peer.next_sent()
        assert text(right) == "Right, Carol!"
        await r.session_ended()
        assert len(r.app.sessions) == 0


class Counter(Plugin):
    """Answers every message with its text, so each one delivered shows as one reply."""

    name = "counter"

    @command("n")
    async def number(self, event: MessageEvent) -> AsyncIterator[MessageEventResult]:
        yield event.plain_result(f"got {' '.join(event.args)} as {event.self_id}")


async def test_resume_after_the_server_drops_the_socket(satori_peer: PeerProcess) -> None:
    async with rig(satori_peer, [Counter]) as r:
        peer = r.peer
        await peer.inject("alice", "/n 1", channel=GROUP)
        assert text(await peer.next_sent()) == f"got 1 as {ALPHA}"
        # The server closes the socket and holds the next one until told: events meanwhile
        # exist only in its cache.
        assert await peer.drop(hold=True) == 1
        await peer.connections(count=0)
        missed = [await peer.inject("alice", f"/n {n}", channel=GROUP) for n in (2, 3, 4)]
        await peer.release()
        # Resumed with the sn of event 1: the server pushes 2, 3, 4, each once, in order.
        await r.adapter.wait_ready(timeout=10, connects=2)
        assert [text(await peer.next_sent()) for _ in missed] == [
            f"got {n} as {ALPHA}" for n in (2, 3, 4)
        ]
        assert r.adapter.socket is not None
        assert r.adapter.socket.guard.last_sn == missed[-1]["sn"]
        await peer.connections(count=1)
        # An over-eager server sends them all again: nothing is handled twice.
        assert await peer.resend(first_sn=missed[0]["sn"] - 1) == 4
        await peer.inject("alice", "/n 5", channel=GROUP)  # a probe: its answer must come next
        assert text(await peer.next_sent()) == f"got 5 as {ALPHA}"
        assert await peer.sent_so_far() == []


async def test_resume_after_the_server_restarts(satori_peer: PeerProcess) -> None:
    async with rig(satori_peer, [Counter]) as r:
        peer = r.peer

        async def restart() -> None:
            # A restarted server counts sn from 0 again and has no cache to replay.
            connects = r.adapter.socket.connects if r.adapter.socket else 0
            satori_peer.restart()
            await r.adapter.wait_ready(timeout=15, connects=connects + 1)
            await peer.connections(count=1)
            await peer.mark()

        async def exchange(*numbers: int) -> list[int]:
            sns = [(await peer.inject("alice", f"/n {n}", channel=GROUP))["sn"] for n in numbers]
            assert [text(await peer.next_sent()) for _ in numbers] == [
                f"got {n} as {ALPHA}" for n in numbers
            ]
            return sns

        await restart()
        first = await exchange(1, 2)
        await restart()
        # The same sns as before the restart, on other events: not repeats, all delivered.
        assert await exchange(3, 4) == first == [0, 1]


async def test_two_logins_on_one_connection_answer_as_themselves(
    satori_peer: PeerProcess,
) -> None:
    async with rig(satori_peer, [Counter]) as r:
        peer = r.peer
        assert set(r.adapter.logins) == {ALPHA, BETA}
        # The same channel id on two platforms is two conversations.
        await peer.inject("alice", "/n a", channel=GROUP, login="alpha")
        await peer.inject("alice", "/n b", channel=GROUP, login="beta")
        first, second = await peer.next_sent(), await peer.next_sent()
        by_login = {(s["platform"], s["self_id"]): text(s) for s in (first, second)}
        assert by_login == {
            ("alpha", "bot-a"): f"got a as {ALPHA}",
            ("beta", "bot-b"): f"got b as {BETA}",
        }
        # A message sent on the app's own initiative names its login in the target.
        from waiter_sdk import Target

        await r.app.send(Target("satori", BETA, group_id="g-200"), "hello from beta")
        sent = await peer.next_sent()
        assert (sent["platform"], sent["self_id"], sent["channel_id"], text(sent)) == (
            "beta",
            "bot-b",
            "g-200",
            "hello from beta",
        )
