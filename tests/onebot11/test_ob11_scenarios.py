"""Multi-turn conversations, end to end through every transport against the fake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from waiter_sdk import (
    GroupSessionFilter,
    MessageEvent,
    MessageEventResult,
    Plugin,
    SessionController,
    Target,
    UserSessionFilter,
    command,
    session_waiter,
)

from .conftest import SELF_ID, TRANSPORTS, rig

ALICE, BOB, CAROL = 501, 502, 503
GROUP, OTHER_GROUP = 7001, 7002


class Parrot(Plugin):
    name = "parrot"

    @command("parrot")
    async def parrot(self, event: MessageEvent) -> AsyncIterator[MessageEventResult]:
        yield event.plain_result("Say something; q to stop.")

        @session_waiter(timeout=5)
        async def repeat(controller: SessionController, reply: MessageEvent) -> None:
            if reply.message_str == "q":
                await reply.send("Bye!")
                controller.stop()
                return
            await reply.send(reply.message_str)

        await repeat(event)


class Login(Plugin):
    name = "login"

    @command("login")
    async def login(self, event: MessageEvent) -> AsyncIterator[MessageEventResult]:
        yield event.plain_result("Check your private messages.")
        dm = Target(event.platform, event.self_id, user_id=event.sender_id)
        await self.app.send(dm, "Username?")
        answers: list[str] = []

        @session_waiter(timeout=5)
        async def ask(controller: SessionController, reply: MessageEvent) -> None:
            if not reply.is_private:
                await reply.send("Please answer in private.")
                return
            answers.append(reply.message_str)
            if len(answers) == 1:
                await reply.send("Password?")
            else:
                ok = answers[1] == "hunter2"
                await reply.send(f"Welcome, {answers[0]}!" if ok else "Wrong password.")
                controller.stop()

        await ask(event, session_filter=UserSessionFilter())
        yield event.plain_result(f"{event.sender_name} logged in.")


class Chain(Plugin):
    name = "chain"

    @command("chain")
    async def chain(self, event: MessageEvent) -> AsyncIterator[MessageEventResult]:
        yield event.plain_result("Chain: 一心一意")
        state = {"last": "一心一意", "words": 0}

        @session_waiter(timeout=5)
        async def play(controller: SessionController, reply: MessageEvent) -> None:
            word = reply.message_str.strip()
            if word == "end":
                await reply.send(f"Game over: {state['words']} words.")
                controller.stop()
                return
            if not word or word[0] != state["last"][-1]:
                await reply.send(f"{reply.sender_name}: start with {state['last'][-1]}")
                return
            state["last"], state["words"] = word, state["words"] + 1
            await reply.send(f"{reply.sender_name} +1: {word}")

        await play(event, session_filter=GroupSessionFilter())


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_parrot_repeats_until_q(transport: str) -> None:
    async with rig(transport, [Parrot]) as r:
        fake = r.fake
        await fake.group(ALICE, "/parrot", group_id=GROUP)
        first = await fake.next_sent()
        assert (first.message_type, first.target, first.text) == (
            "group",
            GROUP,
            "Say something; q to stop.",
        )
        assert first.types == ["text"]  # no @ added in groups
        assert first.params["group_id"] == GROUP
        assert isinstance(first.params["group_id"], int)
        await r.session_opened()
        await fake.group(ALICE, "hello & [you]", group_id=GROUP)
        assert (await fake.next_sent()).text == "hello & [you]"
        await fake.group(BOB, "not in the session", group_id=GROUP)  # Bob is not parroted
        await fake.group(ALICE, "again", group_id=GROUP)
        assert (await fake.next_sent()).text == "again"
        await fake.group(ALICE, "q", group_id=GROUP)
        assert (await fake.next_sent()).text == "Bye!"
        await fake.group(ALICE, "after the end", group_id=GROUP)
        await fake.private(ALICE, "/parrot")  # a probe: its answer must come next
        probe = await fake.next_sent()
        assert (probe.message_type, probe.target, probe.text) == (
            "private",
            ALICE,
            "Say something; q to stop.",
        )


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_login_continues_in_private(transport: str) -> None:
    async with rig(transport, [Login]) as r:
        fake = r.fake
        await fake.group(ALICE, "/login", group_id=GROUP, nickname="Alice", card="alice-card")
        hint, question = await fake.next_sent(), await fake.next_sent()
        assert (hint.message_type, hint.text) == ("group", "Check your private messages.")
        assert (question.message_type, question.target, question.text) == (
            "private",
            ALICE,
            "Username?",
        )
        await r.session_opened()
        await fake.group(ALICE, "alice", group_id=GROUP)
        assert (await fake.next_sent()).text == "Please answer in private."
        await fake.private(ALICE, "alice")
        assert (await fake.next_sent()).text == "Password?"
        await fake.private(ALICE, "hunter2")
        welcome, done = await fake.next_sent(), await fake.next_sent()
        assert (welcome.message_type, welcome.text) == ("private", "Welcome, alice!")
        assert (done.message_type, done.target, done.text) == (
            "group",
            GROUP,
            "alice-card logged in.",
        )


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_chain_game_with_three_users(transport: str) -> None:
    async with rig(transport, [Chain]) as r:
        fake = r.fake
        names = {ALICE: "Alice", BOB: "Bob", CAROL: "Carol"}

        async def say(user: int, text: str, group: int = GROUP) -> None:
            await fake.group(user, text, group_id=group, nickname=names[user])

        await say(ALICE, "/chain")
        assert (await fake.next_sent()).text == "Chain: 一心一意"
        await r.session_opened()
        await say(BOB, "意气风发")
        assert (await fake.next_sent()).text == "Bob +1: 意气风发"
        await say(CAROL, "发扬光大")
        assert (await fake.next_sent()).text == "Carol +1: 发扬光大"
        await say(ALICE, "天下太平")
        assert (await fake.next_sent()).text == "Alice: start with 大"
        await say(BOB, "not here", group=OTHER_GROUP)  # another group is another conversation
        await say(ALICE, "大公无私")
        assert (await fake.next_sent()).text == "Alice +1: 大公无私"
        await say(CAROL, "end")
        over = await fake.next_sent()
        assert (over.target, over.text) == (GROUP, "Game over: 3 words.")
        await fake.expect_silence()
        assert r.adapter.bot(SELF_ID).self_id == str(SELF_ID)
