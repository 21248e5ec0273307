"""Issue 11.2: botoy's documented examples, ported as botoy's docs write them, work as there.

botoy's `finish()` is synchronous: its parrot loops over `text, s = await ss.text()` and calls
`ss.finish(...)` without `await` on a timeout and on "q". Here that warned "coroutine never
awaited" and the parrot echoed "q" forever. The ports below keep botoy's shape: an un-awaited
`finish`, `must_text` with a prompt, a session started in a group that listens in private.
"""

from __future__ import annotations

from tests.kit import texts
from waiter_sdk import MessageEvent, Plugin, command, on_message, start_session
from waiter_sdk.testing import Simulator


class Repeat(Plugin):
    """botoy's "parrot" (鹦鹉学舌): start, repeat, q stops, 20 s of silence ends it."""

    name = "repeat"

    @command("start")
    async def r_repeat(self, event: MessageEvent) -> None:
        FINISH_INFO = "The conversation is over"
        ss = start_session(group=True, multi_user=False)  # this user, here and in private
        ss.set_default_timeout(20)
        ss.set_finish_info(FINISH_INFO)
        await event.send("Parrot mode")
        while True:
            text, s = await ss.text()
            if text is None:  # timed out
                ss.finish(FINISH_INFO)
            if text == "q":
                ss.finish()  # the default finish info is sent
            if not text:
                continue
            await s.send(text)


class Login(Plugin):
    """botoy's "login v1": started in a group or in private, continued in private only."""

    name = "login"

    @command("login")
    async def login(self, event: MessageEvent) -> None:
        ss = start_session(friend=True)  # private only, whether started in a group or not
        ss.set_finish_info("Input timed out, the conversation is over")
        username, s = await ss.must_text("Please enter your username")
        password, s = await ss.must_text("Please enter your password")
        await s.send(f"Your username: {username}\nYour password: {password}")


class Everything(Plugin):
    """Whatever reaches the plugins."""

    name = "everything"

    def __init__(self) -> None:
        self.saw: list[str] = []

    @on_message(priority=-10)
    async def saw_it(self, event: MessageEvent) -> None:
        if not event.message_str.startswith("/"):
            self.saw.append(event.message_str)


async def test_the_parrot_stops_on_q_with_an_unawaited_finish() -> None:
    rest = Everything()
    async with Simulator(plugins=[Repeat, rest]) as sim:
        alice = sim.user("alice")
        assert texts(await sim.send(alice, "/start", group="g")) == ["Parrot mode"]
        assert texts(await sim.send(alice, "polly", group="g")) == ["polly"]
        assert texts(await sim.send(alice, "hello")) == ["hello"]
        assert texts(await sim.send(alice, "q", group="g")) == ["The conversation is over"]
        assert len(sim.app.sessions) == 0
        assert await sim.send(alice, "q", group="g") == []  # no parrot any more
        assert rest.saw == ["q"]


async def test_the_parrot_falls_silent_after_twenty_seconds() -> None:
    async with Simulator(plugins=[Repeat]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/start", group="g")
        assert await sim.advance(19) == []
        assert texts(await sim.advance(1)) == ["The conversation is over"]
        assert len(sim.app.sessions) == 0


async def test_login_started_in_a_group_goes_on_in_private() -> None:
    rest = Everything()
    async with Simulator(plugins=[Login, rest]) as sim:
        bob = sim.user("bob")
        (ask,) = await sim.send(bob, "/login", group="g")
        assert (ask.text, ask.user_id, ask.group_id) == ("Please enter your username", "bob", None)
        assert await sim.send(bob, "not here", group="g") == []  # group: not the session's
        assert rest.saw == ["not here"]
        (ask,) = await sim.send(bob, "bob")  # private
        assert (ask.text, ask.user_id) == ("Please enter your password", "bob")
        (done,) = await sim.send(bob, "hunter2")
        assert (done.text, done.user_id) == ("Your username: bob\nYour password: hunter2", "bob")
        assert len(sim.app.sessions) == 0


async def test_login_timeout_sends_the_finish_info_in_private_and_ends() -> None:
    async with Simulator(plugins=[Login]) as sim:
        bob = sim.user("bob")
        await sim.send(bob, "/login", group="g")
        (bye,) = await sim.advance(30)  # botoy's default wait
        assert (bye.text, bye.user_id) == ("Input timed out, the conversation is over", "bob")
        assert len(sim.app.sessions) == 0
