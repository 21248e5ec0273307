"""botoy-style ``start_session``: scopes, text/must_text, finish, skip_responder, and botoy's bugs.

Every test runs in virtual time through the Simulator. The ``Probe`` plugin opens a session from
``/start key=value ...`` (the values become ``start_session`` arguments), reports every message its
session takes as ``"session got <text> from <user>"``, and a low-priority handler reports every
message that reached the plugins instead as ``"plugin saw <text>"``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from waiter_sdk import (
    HandlerFinished,
    Image,
    MessageChain,
    MessageEvent,
    Plain,
    Plugin,
    SessionBusyError,
    SessionClosedError,
    command,
    on_message,
    start_session,
)
from waiter_sdk.config import Settings
from waiter_sdk.session.botoy import BotoySession
from waiter_sdk.testing import Outgoing, Simulator


def _value(raw: str) -> bool | int | str:
    if raw in ("true", "false"):
        return raw == "true"
    if raw.isdigit():
        return int(raw)
    return raw


def texts(out: list[Outgoing]) -> list[str]:
    return [o.text for o in out]


class Probe(Plugin):
    name = "probe"

    @command("start")
    async def start(self, event: MessageEvent) -> None:
        kwargs: dict[str, Any] = {}
        for arg in event.args:
            key, _, raw = arg.partition("=")
            kwargs[key] = _value(raw)
        try:
            ss = start_session(event, **kwargs)
        except SessionBusyError as exc:
            await event.send(f"busy: {exc}")
            return
        await ss.send(f"started {ss.scope.kind}")
        while True:
            text, ev = await ss.text(timeout=1000)
            if ev is None:
                await ss.finish("timed out")
            if text == "stop":
                await ss.finish("stopped")
            await ev.send(f"session got {text} from {ev.sender_id}")

    @on_message(priority=-10)
    async def fallback(self, event: MessageEvent) -> None:
        if not event.message_str.startswith("/"):
            await event.send(f"plugin saw {event.message_str}")


async def _captures(sim: Simulator, user: str, text: str, group: str | None = None) -> bool | None:
    """True if the session took the message, False if the plugins saw it, None if neither."""
    out = texts(await sim.send(sim.user(user), text, group=group))
    if f"session got {text} from {user}" in out:
        return True
    if f"plugin saw {text}" in out:
        return False
    return None


# --- scopes started from a group message -----------------------------------------------------


async def test_default_scope_is_the_sender_in_that_group_plus_their_private_chat() -> None:
    async with Simulator(plugins=[Probe]) as sim:
        out = await sim.send(sim.user("alice"), "/start", group="g1")
        assert [(o.text, o.group_id) for o in out] == [("started member", "g1")]
        assert await _captures(sim, "alice", "a1", group="g1") is True
        assert await _captures(sim, "bob", "b1", group="g1") is False
        assert await _captures(sim, "alice", "a2", group="g2") is False
        assert await _captures(sim, "alice", "a3") is True  # private
        assert await _captures(sim, "bob", "b2") is False


async def test_reply_follows_the_last_message_of_a_member_session() -> None:
    async with Simulator(plugins=[Probe]) as sim:
        await sim.send(sim.user("alice"), "/start", group="g1")
        out = await sim.send(sim.user("alice"), "dm")
        assert [(o.group_id, o.user_id) for o in out] == [(None, "alice")]
        out = await sim.send(sim.user("alice"), "stop", group="g1")
        assert [(o.text, o.group_id) for o in out] == [("stopped", "g1")]


async def test_group_true_without_multi_user_is_the_member_scope() -> None:
    async with Simulator(plugins=[Probe]) as sim:
        out = await sim.send(sim.user("alice"), "/start group=true", group="g1")
        assert texts(out) == ["started member"]
        assert await _captures(sim, "bob", "b1", group="g1") is False
        assert await _captures(sim, "alice", "a1") is True


async def test_group_multi_user_takes_every_member_of_the_group_but_no_private_message() -> None:
    async with Simulator(plugins=[Probe]) as sim:
        out = await sim.send(sim.user("alice"), "/start group=true multi_user=true", group="g1")
        assert texts(out) == ["started group"]
        assert await _captures(sim, "alice", "a1", group="g1") is True
        assert await _captures(sim, "bob", "b1", group="g1") is True
        assert await _captures(sim, "carol", "c1", group="g1") is True
        assert await _captures(sim, "alice", "a2") is False
        assert await _captures(sim, "bob", "b2", group="g2") is False


async def test_friend_true_from_a_group_takes_only_the_private_chat_and_answers_there() -> None:
    async with Simulator(plugins=[Probe]) as sim:
        out = await sim.send(sim.user("alice"), "/start friend=true", group="g1")
        assert [(o.text, o.group_id, o.user_id) for o in out] == [
            ("started private", None, "alice")
        ]
        assert await _captures(sim, "alice", "a1", group="g1") is False
        assert await _captures(sim, "alice", "a2") is True
        assert await _captures(sim, "bob", "b1") is False


async def test_precedence_group_beats_friend_and_multi_user_needs_group() -> None:
    async with Simulator(plugins=[Probe]) as sim:
        # group > friend: friend=True is ignored when group=True.
        out = await sim.send(sim.user("alice"), "/start group=true friend=true", group="g1")
        assert texts(out) == ["started member"]
        assert await _captures(sim, "alice", "a1", group="g1") is True
        # multi_user alone (no group) changes nothing: the default member scope.
        out = await sim.send(sim.user("bob"), "/start multi_user=true", group="g1")
        assert texts(out) == ["started member"]
        assert await _captures(sim, "carol", "c1", group="g1") is False
        # group > multi_user > friend: with group and multi_user, friend is ignored too.
        out = await sim.send(
            sim.user("carol"), "/start group=true multi_user=true friend=true", group="g2"
        )
        assert texts(out) == ["started group"]
        assert await _captures(sim, "dave", "d1", group="g2") is True
        assert await _captures(sim, "carol", "c2") is False


# --- scopes started from a private message ---------------------------------------------------


async def test_private_trigger_ignores_every_argument() -> None:
    async with Simulator(plugins=[Probe]) as sim:
        out = await sim.send(sim.user("alice"), "/start group=true multi_user=true")
        assert [(o.text, o.user_id) for o in out] == [("started private", "alice")]
        assert await _captures(sim, "alice", "a1") is True
        assert await _captures(sim, "alice", "a2", group="g1") is False
        assert await _captures(sim, "bob", "b1") is False


# --- explicit ids ----------------------------------------------------------------------------


async def test_group_id_takes_that_whole_group_whatever_the_trigger() -> None:
    async with Simulator(plugins=[Probe]) as sim:
        out = await sim.send(sim.user("alice"), "/start group=g9")  # from a private chat
        assert [(o.text, o.group_id) for o in out] == [("started group", "g9")]
        assert await _captures(sim, "bob", "b1", group="g9") is True
        assert await _captures(sim, "alice", "a1", group="g9") is True
        assert await _captures(sim, "alice", "a2") is False
        assert await _captures(sim, "bob", "b2", group="g1") is False


async def test_int_ids_are_explicit_targets_and_true_is_not_id_1() -> None:
    async with Simulator(plugins=[Probe]) as sim:
        out = await sim.send(sim.user("alice"), "/start group=12345", group="g1")
        assert [(o.text, o.group_id) for o in out] == [("started group", "12345")]
        assert await _captures(sim, "bob", "b1", group="12345") is True
        assert await _captures(sim, "bob", "b2", group="g1") is False
        # friend=True means "this sender", never the user whose id is 1.
        out = await sim.send(sim.user("carol"), "/start friend=true", group="g1")
        assert [(o.text, o.user_id) for o in out] == [("started private", "carol")]
        assert await _captures(sim, "1", "one") is False


async def test_friend_id_takes_that_users_private_chat_only() -> None:
    async with Simulator(plugins=[Probe]) as sim:
        out = await sim.send(sim.user("alice"), "/start friend=carol multi_user=true", group="g1")
        assert [(o.text, o.group_id, o.user_id) for o in out] == [
            ("started private", None, "carol")
        ]
        assert await _captures(sim, "carol", "c1") is True
        assert await _captures(sim, "carol", "c2", group="g1") is False
        assert await _captures(sim, "alice", "a1", group="g1") is False
        assert await _captures(sim, "alice", "a2") is False


async def test_group_and_friend_ids_take_that_member_and_their_private_chat() -> None:
    async with Simulator(plugins=[Probe]) as sim:
        out = await sim.send(sim.user("alice"), "/start group=g9 friend=carol", group="g1")
        # botoy answers a member session opened by ids in the user's private chat.
        assert [(o.text, o.group_id, o.user_id) for o in out] == [("started member", None, "carol")]
        assert await _captures(sim, "carol", "c1", group="g9") is True
        assert await _captures(sim, "carol", "c2") is True
        assert await _captures(sim, "dave", "d1", group="g9") is False
        assert await _captures(sim, "carol", "c3", group="g1") is False


async def test_group_and_friend_ids_with_multi_user_take_the_whole_group() -> None:
    async with Simulator(plugins=[Probe]) as sim:
        out = await sim.send(
            sim.user("alice"), "/start group=g9 friend=carol multi_user=true", group="g1"
        )
        assert [(o.text, o.group_id) for o in out] == [("started group", "g9")]
        assert await _captures(sim, "dave", "d1", group="g9") is True
        assert await _captures(sim, "carol", "c1") is False


async def test_an_id_beats_a_bool_so_group_true_with_a_friend_id_is_private() -> None:
    async with Simulator(plugins=[Probe]) as sim:
        out = await sim.send(sim.user("alice"), "/start group=true friend=carol", group="g1")
        assert [(o.text, o.user_id) for o in out] == [("started private", "carol")]
        assert await _captures(sim, "carol", "c1") is True
        assert await _captures(sim, "alice", "a1", group="g1") is False


# --- several sessions ------------------------------------------------------------------------


async def test_a_members_session_is_looked_up_before_a_group_wide_one() -> None:
    async with Simulator(plugins=[Probe]) as sim:
        await sim.send(sim.user("alice"), "/start", group="g1")
        out = await sim.send(sim.user("bob"), "/start group=true multi_user=true", group="g1")
        assert texts(out) == ["started group"]
        assert await _captures(sim, "carol", "c1", group="g1") is True  # group-wide
        assert await _captures(sim, "alice", "a1", group="g1") is True  # still her own
        assert len(sim.app.sessions) == 2
        await sim.send(sim.user("alice"), "stop", group="g1")
        # Her session ended: her group messages now go to the group-wide one.
        out = await sim.send(sim.user("alice"), "a2", group="g1")
        assert texts(out) == ["session got a2 from alice"]
        assert len(sim.app.sessions) == 1


async def test_second_session_of_the_same_scope_in_the_same_plugin_is_refused() -> None:
    async with Simulator(plugins=[Probe]) as sim:
        await sim.send(sim.user("alice"), "/start group=true multi_user=true", group="g1")
        # Every g1 message is the session's, so ask from elsewhere with the explicit id.
        out = await sim.send(sim.user("bob"), "/start group=g1")
        assert len(out) == 1
        assert out[0].text.startswith("busy: start_session: plugin 'probe' already has")
        assert "group g1" in out[0].text
        assert await _captures(sim, "carol", "c1", group="g1") is True  # the first is untouched


async def test_private_chat_held_by_a_member_session_cannot_be_taken_twice() -> None:
    async with Simulator(plugins=[Probe]) as sim:
        await sim.send(sim.user("alice"), "/start", group="g1")
        out = await sim.send(sim.user("alice"), "/start friend=true", group="g2")
        assert len(out) == 1
        assert "private messages of user alice" in out[0].text
        await sim.send(sim.user("alice"), "stop", group="g1")
        out = await sim.send(sim.user("alice"), "/start friend=true", group="g2")
        assert texts(out) == ["started private"]


async def test_sessions_of_two_plugins_on_one_scope_coexist_newest_first() -> None:
    class Other(Plugin):
        name = "other"

        @command("other")
        async def other(self, event: MessageEvent) -> None:
            ss = start_session(event, group="g1", friend="alice")
            text, ev = await ss.text(timeout=1000)
            assert ev is not None
            await ev.send(f"other got {text}")

    async with Simulator(plugins=[Probe, Other]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/start", group="g1")
        # Bob opens the same scope (alice in g1) for the other plugin: no conflict.
        assert await sim.send(sim.user("bob"), "/other") == []
        # The newest session takes the message (API rule 11) ...
        assert texts(await sim.send(alice, "x", group="g1")) == ["other got x"]
        # ... and once it has ended, the older one gets the next.
        assert texts(await sim.send(alice, "y", group="g1")) == ["session got y from alice"]


# --- text / must_text / timeouts -------------------------------------------------------------


class Asker(Plugin):
    name = "asker"

    def __init__(
        self,
        timeout: float | None = None,
        default: float | None = None,
        finish_info: str | None = None,
    ) -> None:
        self.timeout = timeout
        self.default = default
        self.finish_info = finish_info

    @command("ask")
    async def ask(self, event: MessageEvent) -> None:
        ss = start_session(event)
        if self.default is not None:
            ss.set_default_timeout(self.default)
        if self.finish_info is not None:
            ss.set_finish_info(self.finish_info)
        text, ev = await ss.text(self.timeout, prompt="question?")
        await event.send(f"answer {text!r} event {ev is not None}")
        text, ev = await ss.text(self.timeout)
        await event.send(f"second {text!r}")

    @command("must")
    async def must(self, event: MessageEvent) -> None:
        ss = start_session(event)
        if self.finish_info is not None:
            ss.set_finish_info(self.finish_info)
        name, reply = await ss.must_text("name?", timeout=5)
        await reply.send(f"hello {name}")

    @on_message(priority=-10)
    async def fallback(self, event: MessageEvent) -> None:
        if not event.message_str.startswith("/"):
            await event.send(f"plugin saw {event.message_str}")


async def test_text_returns_the_text_and_the_event() -> None:
    async with Simulator(plugins=[Asker]) as sim:
        out = await sim.send(sim.user("alice"), "/ask", group="g1")
        assert texts(out) == ["question?"]
        out = await sim.send(sim.user("alice"), "42", group="g1")
        assert texts(out) == ["answer '42' event True"]


async def test_text_timeout_returns_none_none_and_the_session_goes_on() -> None:
    async with Simulator(plugins=[Asker(timeout=10)]) as sim:
        await sim.send(sim.user("alice"), "/ask", group="g1")
        assert await sim.advance(9.9) == []
        out = await sim.advance(0.1)
        assert texts(out) == ["answer None event False"]
        assert len(sim.app.sessions) == 1  # a text() timeout does not end the session
        out = await sim.send(sim.user("alice"), "late", group="g1")
        assert texts(out) == ["second 'late'"]
        assert len(sim.app.sessions) == 0  # the handler returned


async def test_default_timeout_is_30_seconds() -> None:
    async with Simulator(plugins=[Asker]) as sim:
        await sim.send(sim.user("alice"), "/ask", group="g1")
        assert await sim.advance(29.9) == []
        assert texts(await sim.advance(0.1)) == ["answer None event False"]


async def test_set_default_timeout_changes_the_wait_of_text() -> None:
    async with Simulator(plugins=[Asker(default=7)]) as sim:
        await sim.send(sim.user("alice"), "/ask", group="g1")
        assert await sim.advance(6.9) == []
        assert texts(await sim.advance(0.1)) == ["answer None event False"]
        assert texts(await sim.advance(7)) == ["second None"]


async def test_must_text_timeout_sends_the_finish_info_and_ends_the_handler() -> None:
    async with Simulator(plugins=[Asker(finish_info="too slow, bye")]) as sim:
        out = await sim.send(sim.user("alice"), "/must", group="g1")
        assert texts(out) == ["name?"]
        assert await sim.advance(4.9) == []
        out = await sim.advance(0.1)
        assert [(o.text, o.group_id) for o in out] == [("too slow, bye", "g1")]
        assert len(sim.app.sessions) == 0
        # The handler ended there: nothing after must_text ran, and the chat is free again.
        out = await sim.send(sim.user("alice"), "hi", group="g1")
        assert texts(out) == ["plugin saw hi"]


async def test_must_text_timeout_without_finish_info_sends_nothing() -> None:
    async with Simulator(plugins=[Asker]) as sim:
        await sim.send(sim.user("alice"), "/must")
        assert await sim.advance(5) == []
        assert len(sim.app.sessions) == 0


async def test_must_text_returns_the_answer() -> None:
    async with Simulator(plugins=[Asker]) as sim:
        await sim.send(sim.user("alice"), "/must")
        assert texts(await sim.send(sim.user("alice"), "Alice")) == ["hello Alice"]


class Finisher(Plugin):
    name = "finisher"

    def __init__(self) -> None:
        self.after_finish: list[str] = []

    @command("fin")
    async def fin(self, event: MessageEvent) -> None:
        ss = start_session(event)
        ss.set_finish_info(lambda: "default info")
        text, _ = await ss.text()
        try:
            if text == "plain":
                await ss.finish()
            elif text == "silent":
                await ss.finish("")
            else:
                await ss.finish(f"custom {text}")
        except HandlerFinished:
            self.after_finish.append(f"closed={ss.closed}")
            raise
        self.after_finish.append("not reached")


async def test_finish_sends_info_or_the_default_and_ends_the_handler() -> None:
    finisher = Finisher()
    async with Simulator(plugins=[finisher]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/fin")
        assert texts(await sim.send(alice, "plain")) == ["default info"]
        await sim.send(alice, "/fin")
        assert texts(await sim.send(alice, "bye")) == ["custom bye"]
        await sim.send(alice, "/fin")
        assert texts(await sim.send(alice, "silent")) == []
        assert finisher.after_finish == ["closed=True"] * 3
        assert len(sim.app.sessions) == 0


# --- skip_responder --------------------------------------------------------------------------


class Slow(Plugin):
    """Starts a session, works for 5 s, then asks: answers typed meanwhile are early."""

    name = "slow"

    def __init__(self, skip: bool = True) -> None:
        self.skip = skip

    @command("slow")
    async def slow(self, event: MessageEvent) -> None:
        ss = start_session(event, skip_responder=self.skip)
        await event.send("working...")
        await asyncio.sleep(5)
        text, _ = await ss.text(timeout=10)
        await event.send(f"got {text!r}")
        text, _ = await ss.text(timeout=10)
        await event.send(f"then {text!r}")

    @on_message(priority=-10)
    async def fallback(self, event: MessageEvent) -> None:
        if not event.message_str.startswith("/"):
            await event.send(f"plugin saw {event.message_str}")


async def test_botoy_skip_responder_false_queues_early_answer() -> None:
    async with Simulator(plugins=[Slow(skip=False)]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/slow", group="g1")
        assert await sim.send(alice, "early 1", group="g1") == []
        assert await sim.send(alice, "early 2", group="g1") == []
        out = await sim.advance(5)
        # Both early answers were kept, in order: neither text() call had to wait.
        assert texts(out) == ["got 'early 1'", "then 'early 2'"]


async def test_skip_responder_true_passes_early_messages_on_to_the_plugins() -> None:
    async with Simulator(plugins=[Slow]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/slow", group="g1")
        # Not an answer (nobody asked yet), and not swallowed either: the plugins get it.
        assert texts(await sim.send(alice, "early", group="g1")) == ["plugin saw early"]
        assert await sim.advance(5) == []
        out = await sim.send(alice, "in time", group="g1")
        assert texts(out) == ["got 'in time'"]


async def test_unread_early_messages_reach_the_plugins_when_the_session_ends() -> None:
    class Quick(Plugin):
        name = "quick"

        @command("quick")
        async def quick(self, event: MessageEvent) -> None:
            ss = start_session(event, skip_responder=False)
            await asyncio.sleep(5)
            text, _ = await ss.text()
            await event.send(f"took {text}")

        @on_message(priority=-10)
        async def fallback(self, event: MessageEvent) -> None:
            if not event.message_str.startswith("/"):
                await event.send(f"plugin saw {event.message_str}")

    async with Simulator(plugins=[Quick]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/quick")
        await sim.send(alice, "one")
        await sim.send(alice, "two")
        await sim.send(alice, "three")
        out = await sim.advance(5)
        assert texts(out) == ["took one", "plugin saw two", "plugin saw three"]


# --- ending ----------------------------------------------------------------------------------


class Once(Plugin):
    """Reads one answer, then returns, finishes, or times out in must_text, by the command."""

    name = "once"

    @command("once")
    async def once(self, event: MessageEvent) -> None:
        ss = start_session(event)
        mode = event.args[0] if event.args else "return"
        if mode == "must":
            await ss.must_text(timeout=3)
        text, _ = await ss.text()
        if mode == "finish":
            await ss.finish("finished")
        if mode == "raise":
            raise ValueError("boom")
        await event.send(f"once {text}")

    @on_message(priority=-10)
    async def fallback(self, event: MessageEvent) -> None:
        if not event.message_str.startswith("/"):
            await event.send(f"plugin saw {event.message_str}")


async def test_botoy_first_message_after_session_end_is_handled() -> None:
    async with Simulator(plugins=[Once], raise_errors=False) as sim:
        alice, bob = sim.user("alice"), sim.user("bob")
        # Ended by the handler returning.
        await sim.send(alice, "/once", group="g1")
        assert texts(await sim.send(alice, "x", group="g1")) == ["once x"]
        assert texts(await sim.send(alice, "next", group="g1")) == ["plugin saw next"]
        # Ended by finish().
        await sim.send(alice, "/once finish", group="g1")
        assert texts(await sim.send(alice, "y", group="g1")) == ["finished"]
        assert texts(await sim.send(bob, "first", group="g1")) == ["plugin saw first"]
        # Ended by a must_text timeout.
        await sim.send(alice, "/once must", group="g1")
        await sim.advance(3)
        assert texts(await sim.send(alice, "after", group="g1")) == ["plugin saw after"]
        # Ended by the handler raising.
        await sim.send(alice, "/once raise")
        await sim.send(alice, "z")
        assert [str(e) for e in sim.errors] == ["boom"]
        assert texts(await sim.send(alice, "again")) == ["plugin saw again"]
        assert len(sim.app.sessions) == 0
        assert len(sim.app.session_registry._by_key) == 0


async def test_an_exit_word_ends_the_session_and_the_handler_quietly() -> None:
    settings = Settings.load(session={"exit_words": ["exit"], "exit_notice": "left"})
    async with Simulator(plugins=[Once], settings=settings) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/once", group="g1")
        out = await sim.send(alice, "exit", group="g1")
        assert texts(out) == ["left"]  # and not "once None": text() raised SessionClosedError
        assert len(sim.app.sessions) == 0
        assert texts(await sim.send(alice, "hi", group="g1")) == ["plugin saw hi"]


async def test_text_after_the_session_ended_raises_session_closed() -> None:
    seen: list[BaseException] = []

    class Late(Plugin):
        name = "late"
        session: BotoySession | None = None

        @command("open")
        async def open(self, event: MessageEvent) -> None:
            type(self).session = start_session(event)

        @command("read")
        async def read(self, event: MessageEvent) -> None:
            assert self.session is not None
            try:
                await self.session.text()
            except SessionClosedError as exc:
                seen.append(exc)

    async with Simulator(plugins=[Late]) as sim:
        await sim.send(sim.user("alice"), "/open")
        assert len(sim.app.sessions) == 0  # its handler returned at once
        await sim.send(sim.user("alice"), "/read")
        assert len(seen) == 1
        assert "has ended (stopped)" in str(seen[0])


async def test_stopping_the_app_ends_a_waiting_session_and_leaves_nothing() -> None:
    ended: list[type[BaseException]] = []

    class Waiting(Plugin):
        name = "waiting"

        @command("wait")
        async def wait(self, event: MessageEvent) -> None:
            ss = start_session(event)
            try:
                await ss.text(timeout=1000)
            except BaseException as exc:
                ended.append(type(exc))
                raise

    sim = Simulator(plugins=[Waiting])
    async with sim:
        await sim.send(sim.user("alice"), "/wait", group="g1")
        [info] = sim.app.sessions.list()
        assert (info.plugin, info.filter) == ("waiting", "BotoySessionFilter")
        assert info.key == "botoy|sim|bot|gg1|alice|waiting"
    assert ended == [SessionClosedError]
    assert len(sim.app.session_registry) == 0
    assert not sim.app.session_registry._by_key
    assert len(sim.app.bus.tasks) == 0


async def test_the_bots_own_messages_never_reach_a_session() -> None:
    async with Simulator(plugins=[Probe]) as sim:
        await sim.send(sim.user("alice"), "/start group=true multi_user=true", group="g1")
        assert await _captures(sim, "bot", "echo", group="g1") is False


async def test_bad_timeouts_are_refused_with_a_hint() -> None:
    errors: list[BaseException] = []

    class Wrong(Plugin):
        name = "wrong"

        @command("wrong")
        async def wrong(self, event: MessageEvent) -> None:
            ss = start_session(event)
            for bad in ("what is your name?", 0, -1):
                try:
                    await ss.text(bad)  # type: ignore[arg-type]
                except (TypeError, ValueError) as exc:
                    errors.append(exc)
            try:
                ss.set_default_timeout(0)
            except ValueError as exc:
                errors.append(exc)

    async with Simulator(plugins=[Wrong]) as sim:
        await sim.send(sim.user("alice"), "/wrong")
    assert [type(e) for e in errors] == [TypeError, ValueError, ValueError, ValueError]
    assert "text(prompt=...)" in str(errors[0])


async def test_start_session_outside_a_handler_is_an_error() -> None:
    async with Simulator(plugins=[]) as sim:
        event = sim.message(sim.user("alice"), "hi")
        with pytest.raises(RuntimeError, match="inside a plugin handler"):
            start_session(event)


async def test_start_session_without_an_event_uses_the_handlers_message() -> None:
    class Bare(Plugin):
        name = "bare"

        @command("bare")
        async def bare(self, event: MessageEvent) -> None:
            ss = start_session(group=True, multi_user=True)  # botoy style
            text, ev = await ss.text()
            assert ev is not None
            await ev.send(f"bare {text} from {ev.sender_id}")

    async with Simulator(plugins=[Bare]) as sim:
        await sim.send(sim.user("alice"), "/bare", group="g1")
        out = await sim.send(sim.user("bob"), "hey", group="g1")
        assert texts(out) == ["bare hey from bob"]


# --- the parrot, ported from botoy's example -------------------------------------------------


class Parrot(Plugin):
    """botoy's parrot: ``/parrot`` starts it, every message is echoed, ``q`` stops it, 20 s of
    silence ends it with the finish info."""

    name = "parrot"

    @command("parrot")
    async def parrot(self, event: MessageEvent) -> None:
        ss = start_session(event)
        ss.set_default_timeout(20)
        ss.set_finish_info("The parrot fell asleep.")
        await event.send("Say something; q to stop.")
        while True:
            text, reply = await ss.must_text()
            if text == "q":
                await ss.finish("Bye!")
            await reply.send(text)

    @on_message(priority=-10)
    async def fallback(self, event: MessageEvent) -> None:
        if not event.message_str.startswith("/"):
            await event.send(f"plugin saw {event.message_str}")


async def test_parrot_echoes_until_q() -> None:
    async with Simulator(plugins=[Parrot]) as sim:
        alice, bob = sim.user("alice"), sim.user("bob")
        assert texts(await sim.send(alice, "/parrot", group="g1")) == ["Say something; q to stop."]
        assert texts(await sim.send(alice, "hello", group="g1")) == ["hello"]
        assert texts(await sim.send(bob, "not me", group="g1")) == ["plugin saw not me"]
        assert texts(await sim.send(alice, "polly", group="g1")) == ["polly"]
        assert texts(await sim.send(alice, "q", group="g1")) == ["Bye!"]
        assert texts(await sim.send(alice, "hello", group="g1")) == ["plugin saw hello"]


async def test_parrot_falls_asleep_after_20_seconds_of_silence() -> None:
    async with Simulator(plugins=[Parrot]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/parrot", group="g1")
        started = sim.time()
        await sim.advance(15)
        assert texts(await sim.send(alice, "still here", group="g1")) == ["still here"]
        # Each wait has its own 20 s: 19.9 s after the last message nothing has happened.
        assert await sim.advance(19.9) == []
        out = await sim.advance(0.1)
        assert [(o.text, o.group_id) for o in out] == [("The parrot fell asleep.", "g1")]
        assert out[0].at - started == pytest.approx(35.0)
        assert len(sim.app.sessions) == 0
        assert texts(await sim.send(alice, "hello?", group="g1")) == ["plugin saw hello?"]


# --- the rest of botoy's getters: image, g, f, ctx, confirm, select ----------------------------


class Getters(Plugin):
    """``/get <getter> [args]``: one call to that getter, reported as text."""

    name = "getters"

    def __init__(self) -> None:
        self.results: list[Any] = []

    @command("get")
    async def get(self, event: MessageEvent) -> None:
        ss = start_session(event, multi_user=event.args[1:2] == ["all"], group=True)
        ss.set_finish_info("finished")
        which = event.args[0]
        if which == "image":
            images, reply = await ss.image("Picture?", timeout=10)
            self.results.append(
                (None if images is None else [i.file for i in images], reply is not None)
            )
        elif which == "must_image":
            images, _ = await ss.must_image(timeout=10)
            self.results.append([i.file for i in images])
        elif which in ("g", "f", "ctx"):
            msg, reply = await getattr(ss, which)(timeout=10)
            self.results.append(None if msg is None else (msg.message_str, msg is reply))
        elif which in ("must_g", "must_f", "must_ctx"):
            msg, _ = await getattr(ss, which)(timeout=10)
            self.results.append(msg.message_str)
        elif which == "confirm":
            self.results.append(await ss.confirm("Sure?", default=True, timeout=10))
        elif which == "select":
            self.results.append(
                await ss.select(["tea", "coffee", "milk"], "Drink?", retry_times=2, timeout=10)
            )

    @on_message(priority=-10)
    async def fallback(self, event: MessageEvent) -> None:
        if not event.message_str.startswith("/"):
            await event.send(f"plugin saw {event.message_str}")


async def test_image_returns_the_images_of_the_next_message_or_none() -> None:
    plugin = Getters()
    async with Simulator(plugins=[plugin]) as sim:
        alice = sim.user("alice")
        assert texts(await sim.send(alice, "/get image", group="g")) == ["Picture?"]
        await sim.send(alice, MessageChain([Plain("look"), Image("cat.png")]), group="g")
        await sim.send(alice, "/get image", group="g")
        await sim.send(alice, "no picture", group="g")  # taken, as in botoy, with no image
        await sim.send(alice, "/get image", group="g")
        await sim.advance(10)
        assert plugin.results == [(["cat.png"], True), (None, True), (None, False)]


async def test_must_image_finishes_when_the_next_message_has_no_image() -> None:
    plugin = Getters()
    async with Simulator(plugins=[plugin]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/get must_image", group="g")
        assert texts(await sim.send(alice, "words only", group="g")) == ["finished"]
        await sim.send(alice, "/get must_image", group="g")
        await sim.send(alice, MessageChain([Image("a.png"), Image("b.png")]), group="g")
        assert plugin.results == [["a.png", "b.png"]]
        assert len(sim.app.sessions) == 0


async def test_g_waits_for_a_group_message_and_passes_private_ones_on() -> None:
    plugin = Getters()
    async with Simulator(plugins=[plugin]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/get g", group="g")
        assert texts(await sim.send(alice, "psst")) == ["plugin saw psst"]  # private: not it
        await sim.send(alice, "out loud", group="g")
        assert plugin.results == [("out loud", True)]


async def test_f_waits_for_a_private_message_and_passes_group_ones_on() -> None:
    plugin = Getters()
    async with Simulator(plugins=[plugin]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/get f", group="g")
        assert texts(await sim.send(alice, "out loud", group="g")) == ["plugin saw out loud"]
        await sim.send(alice, "psst")
        await sim.send(alice, "/get ctx", group="g")
        await sim.send(alice, "anything", group="g")
        assert plugin.results == [("psst", True), ("anything", True)]


async def test_must_getters_finish_on_timeout_and_return_on_a_message() -> None:
    plugin = Getters()
    async with Simulator(plugins=[plugin]) as sim:
        alice = sim.user("alice")
        for which in ("must_g", "must_f", "must_ctx"):
            await sim.send(alice, f"/get {which}", group="g")
            assert texts(await sim.advance(10)) == ["finished"]
        await sim.send(alice, "/get must_f", group="g")
        await sim.send(alice, "here")
        assert plugin.results == ["here"]


async def test_g_and_f_refuse_scopes_that_never_see_such_a_message() -> None:
    errors: list[str] = []

    class Wrong(Plugin):
        name = "wrong"

        @command("wrong")
        async def wrong(self, event: MessageEvent) -> None:
            private = start_session(event)  # started privately: a private scope
            try:
                await private.g()
            except RuntimeError as exc:
                errors.append(str(exc))
            private.finish("")

        @command("wrong_group")
        async def wrong_group(self, event: MessageEvent) -> None:
            whole = start_session(event, group=True, multi_user=True)
            try:
                await whole.f()
            except RuntimeError as exc:
                errors.append(str(exc))

    async with Simulator(plugins=[Wrong]) as sim:
        await sim.send(sim.user("alice"), "/wrong")
        await sim.send(sim.user("alice"), "/wrong_group", group="g")
    assert ["no group message" in errors[0], "no private message" in errors[1]] == [True, True]


async def test_confirm_asks_until_y_or_n_and_falls_back_to_the_default() -> None:
    plugin = Getters()
    async with Simulator(plugins=[plugin]) as sim:
        alice = sim.user("alice")
        (ask,) = await sim.send(alice, "/get confirm", group="g")
        assert ask.text == "Sure?\n\n[Y/n] 10 s to answer, then yes"
        (again,) = await sim.send(alice, "maybe", group="g")
        assert again.text.startswith("Please answer y or n.")
        await sim.send(alice, " N ", group="g")
        await sim.send(alice, "/get confirm", group="g")
        await sim.send(alice, "yes", group="g")
        await sim.send(alice, "/get confirm", group="g")
        await sim.advance(10)
        assert plugin.results == [False, True, True]


async def test_select_takes_a_number_with_retries_and_returns_item_and_index() -> None:
    plugin = Getters()
    async with Simulator(plugins=[plugin]) as sim:
        alice = sim.user("alice")
        (menu,) = await sim.send(alice, "/get select", group="g")
        assert menu.text.endswith("1. tea\n2. coffee\n3. milk")
        assert menu.text.startswith("Drink?\n")
        (retry,) = await sim.send(alice, "0", group="g")  # no choice 0 (botoy took the last)
        assert "1 more tries" in retry.text
        await sim.send(alice, "2", group="g")
        await sim.send(alice, "/get select", group="g")
        await sim.send(alice, "tea", group="g")
        (gave_up,) = await sim.send(alice, "9", group="g")
        assert "nothing was selected" in gave_up.text
        await sim.send(alice, "/get select", group="g")
        await sim.advance(10)
        assert plugin.results == [("coffee", 1), None, None]


async def test_a_botoy_session_has_a_deadline_only_while_a_getter_waits() -> None:
    # Issue 12.5: the getter's timeout is the session's own deadline, in the registry's one
    # timer heap; between two questions there is none (not a placeholder a year away).
    class Thinker(Plugin):
        name = "thinker"

        @command("think")
        async def think(self, event: MessageEvent) -> None:
            ss = start_session(event)
            await asyncio.sleep(5)  # working: no question asked yet
            await ss.text(timeout=10)

    async with Simulator(plugins=[Thinker]) as sim:
        await sim.send(sim.user("alice"), "/think")
        (info,) = sim.app.sessions
        assert (info.deadline, info.remaining) == (None, None)
        await sim.advance(5)
        (info,) = sim.app.sessions
        assert (info.deadline, info.remaining) == (15.0, 10.0)
        assert len(sim.app.session_registry._heap) == 1  # the one shared heap, one entry
        await sim.advance(10)
        assert len(sim.app.sessions) == 0  # text() timed out, the handler returned
