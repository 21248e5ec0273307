"""Issue 12.6: one key builder, and a routing pre-check that does not silently turn off.

Five hand-written key formats (sender, group, user, reply, botoy) each escaped ids their own
way. Keys are now one value, `SessionKey(kind, platform, bot, chat, sender, topic)`, with one
encoding that a property test proves injective. The raw-id pre-check (most chat is turned away
by two dict lookups) switched off for any subclass of a built-in filter and while a botoy
session was open; now it covers them, and says at DEBUG when a filter turns it off.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from waiter_sdk import (
    GroupSessionFilter,
    MessageChain,
    MessageEvent,
    Plugin,
    ReplySessionFilter,
    SenderSessionFilter,
    SessionController,
    UserSessionFilter,
    command,
    session_waiter,
    start_session,
)
from waiter_sdk.session.botoy import BotoySessionFilter
from waiter_sdk.session.keys import SessionKey, encode_key, key_field
from waiter_sdk.testing import Simulator

# Ids as platforms and sandbox users send them, separators and escapes included.
ids = st.text(alphabet=st.sampled_from(list("ab-|\\!g p0")), max_size=6)
keys = st.builds(SessionKey, ids, ids, ids, ids, ids, ids)


@settings(max_examples=400, derandomize=True, database=None)
@given(keys, keys)
def test_distinct_keys_never_encode_alike(one: SessionKey, other: SessionKey) -> None:
    assert (one.encode() == other.encode()) == (one == other)


@settings(max_examples=400, derandomize=True, database=None)
@given(keys)
def test_every_key_decodes_back(key: SessionKey) -> None:
    text = key.encode()
    assert SessionKey.decode(text) == key
    for field in ("kind", "platform", "bot", "chat", "sender", "topic"):
        assert key_field(text, field) == getattr(key, field)


def _event(sender: str, group: str | None, reply_to: str | None = None) -> MessageEvent:
    return MessageEvent(
        platform="p|x",
        self_id="b\\t",
        message=MessageChain(["hi"]),
        message_id="1",
        sender_id=sender,
        group_id=group,
        reply_to=reply_to,
    )


@settings(max_examples=200, derandomize=True, database=None)
@given(ids, st.none() | ids, ids)
def test_the_built_in_filters_build_their_keys_one_way(
    sender: str, group: str | None, quoted: str
) -> None:
    event = _event(sender, group, quoted)
    chat = f"p{sender}" if group is None else f"g{group}"
    platform, bot = "p|x", "b\\t"
    assert SessionKey.decode(SenderSessionFilter().filter(event)) == SessionKey(
        "sender", platform, bot, chat, sender
    )
    assert GroupSessionFilter().filter(event) == encode_key("group", platform, bot, chat)
    assert UserSessionFilter().filter(event) == encode_key("user", platform, bot, sender=sender)
    assert ReplySessionFilter().filter(event) == encode_key("reply", platform, bot, topic=quoted)
    botoy = BotoySessionFilter("plug")
    expected = [encode_key("botoy", platform, bot, chat, sender, "plug")]
    if group is not None:
        expected.append(encode_key("botoy", platform, bot, chat, topic="plug"))
    # A pure function of the event: no registry asked (there is no app here at all).
    assert list(botoy.keys(event)) == (expected if sender != bot else [])


class Sessions(Plugin):
    """/plain opens a sender session under a subclass of the built-in filter; /botoy a botoy one."""

    name = "sessions"

    @command("plain")
    async def plain(self, event: MessageEvent) -> None:
        class Mine(SenderSessionFilter):
            """Only adds a parameter: it routes exactly as its base."""

            def __init__(self, level: int = 1) -> None:
                self.level = level

        @session_waiter(timeout=60)
        async def wait(controller: SessionController, reply: MessageEvent) -> None:
            controller.stop()

        await wait(event, session_filter=Mine())

    @command("botoy")
    async def botoy(self, event: MessageEvent) -> None:
        ss = start_session()
        await ss.text(timeout=60)


async def test_the_pre_check_covers_subclasses_and_botoy_sessions(monkeypatch) -> None:
    calls: list[str] = []
    real_sender, real_botoy = SenderSessionFilter.filter, BotoySessionFilter.keys

    def counted_sender(self: SenderSessionFilter, event: MessageEvent) -> str:
        calls.append(event.sender_id)
        return real_sender(self, event)

    def counted_botoy(self: BotoySessionFilter, event: MessageEvent) -> tuple[str, ...]:
        calls.append(event.sender_id)
        return real_botoy(self, event)

    monkeypatch.setattr(SenderSessionFilter, "filter", counted_sender)
    monkeypatch.setattr(BotoySessionFilter, "keys", counted_botoy)
    async with Simulator(plugins=[Sessions]) as sim:
        await sim.send(sim.user("alice"), "/plain", group="g")
        await sim.send(sim.user("bob"), "/botoy", group="h")
        calls.clear()
        for n in range(5):
            await sim.send(sim.user(f"stranger{n}"), "just chatting", group=f"x{n}")
        assert calls == []  # turned away by the raw ids alone: no key built
        await sim.send(sim.user("alice"), "done", group="g")
        await sim.send(sim.user("bob"), "done", group="h")
        assert len(sim.app.sessions) == 0


async def test_a_filter_that_turns_the_pre_check_off_says_so(logs: list[str]) -> None:
    class Topic(SenderSessionFilter):
        def filter(self, event: MessageEvent) -> str:  # routes its own way: no route id
            return f"topic|{event.message_str[:3]}"

        def open_key(self, event: MessageEvent) -> str:
            return "topic|abc"

    class Open(Plugin):
        name = "open"

        @command("open")
        async def open(self, event: MessageEvent) -> None:
            @session_waiter(timeout=60)
            async def wait(controller: SessionController, reply: MessageEvent) -> None:
                controller.stop()

            await wait(event, session_filter=Topic())

    async with Simulator(plugins=[Open]) as sim:
        await sim.send(sim.user("a"), "/open")
        assert await sim.send(sim.user("z"), "abc, from anyone") == []
    assert any("Topic gives no route_id" in line for line in logs)
