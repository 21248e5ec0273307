"""Issue 11.3: a handler waiting on a session it opened does not hold back the handlers after it.

Plugin A's `/ask` opened a session (`event.prompt()`), and plugin B's `@on_message(priority=-1)`
logger saw `/ask` only after the conversation had ended, after later messages of other users.
Propagation of a message goes on at once to the handlers after the one that opened a session
(unless it stopped the event first), and every handler sees messages in arrival order.
"""

from __future__ import annotations

from tests.kit import texts
from waiter_sdk import (
    GroupSessionFilter,
    MessageEvent,
    Plugin,
    SessionController,
    command,
    on_message,
    session_waiter,
    start_session,
)
from waiter_sdk.testing import Simulator


class Asker(Plugin):
    """Every style of opening a conversation, one command each."""

    name = "asker"

    @command("ask")
    async def ask(self, event: MessageEvent) -> None:
        await event.send("Your name?")
        name = await event.prompt(timeout=30)
        await event.send(f"Hi {name}" if name else "Bye")

    @command("quiet")
    async def quiet(self, event: MessageEvent) -> None:
        event.stop_event()  # stopped first: nobody after this handler sees /quiet
        await event.prompt(timeout=30)

    @command("game")
    async def game(self, event: MessageEvent):  # AstrBot style: a generator and a waiter
        yield event.plain_result("Game on")

        @session_waiter(timeout=30)
        async def play(controller: SessionController, reply: MessageEvent) -> None:
            await reply.send(f"{reply.sender_id} played {reply.message_str}")
            controller.stop()

        await play(event, session_filter=GroupSessionFilter())

    @command("botoy")
    async def botoy(self, event: MessageEvent) -> None:
        ss = start_session()
        text, reply = await ss.must_text("Say it", timeout=30)
        await reply.send(f"said {text}")

    @command("city")
    async def city(self, event: MessageEvent) -> None:
        choice = await event.suggest(["London", "Paris"], event.args[0] if event.args else "")
        await event.send(f"city: {choice}")


class Logger(Plugin):
    name = "logger"

    def __init__(self) -> None:
        self.seen: list[str] = []

    @on_message(priority=-1)
    async def log(self, event: MessageEvent) -> None:
        self.seen.append(f"{event.sender_id}: {event.message_str}")


async def test_a_handler_after_a_prompt_sees_the_command_at_once() -> None:
    logger = Logger()
    async with Simulator(plugins=[Asker, logger]) as sim:
        alice, bob = sim.user("alice"), sim.user("bob")
        assert texts(await sim.send(alice, "/ask", group="g")) == ["Your name?"]
        assert logger.seen == ["alice: /ask"]  # while the prompt still waits
        await sim.send(bob, "hello", group="g")
        assert texts(await sim.send(alice, "Alice", group="g")) == ["Hi Alice"]
        assert logger.seen == ["alice: /ask", "bob: hello"]  # the answer was the prompt's


async def test_every_handler_sees_a_burst_in_arrival_order() -> None:
    logger = Logger()
    async with Simulator(plugins=[Asker, logger]) as sim:
        alice, bob, carol = sim.user("alice"), sim.user("bob"), sim.user("carol")
        # All three arrive before the loop runs once: /ask's logger turn comes first anyway.
        for user, text in ((alice, "/ask"), (bob, "one"), (carol, "two")):
            sim.app.dispatch(sim.message(user, text, group="g"))
        await sim.settle()
        assert logger.seen == ["alice: /ask", "bob: one", "carol: two"]


async def test_each_style_of_session_lets_the_chain_go_on() -> None:
    logger = Logger()
    async with Simulator(plugins=[Asker, logger]) as sim:
        alice, bob = sim.user("alice"), sim.user("bob")
        assert texts(await sim.send(alice, "/game", group="g")) == ["Game on"]
        assert texts(await sim.send(alice, "/botoy", group="h")) == ["Say it"]
        assert logger.seen == ["alice: /game", "alice: /botoy"]
        assert texts(await sim.send(bob, "rock", group="g")) == ["bob played rock"]
        assert texts(await sim.send(alice, "hey", group="h")) == ["said hey"]
        assert logger.seen == ["alice: /game", "alice: /botoy"]  # both answers were consumed


async def test_a_handler_that_stopped_the_event_still_holds_back_nothing_else() -> None:
    logger = Logger()
    async with Simulator(plugins=[Asker, logger]) as sim:
        alice, bob = sim.user("alice"), sim.user("bob")
        await sim.send(alice, "/quiet", group="g")
        await sim.send(bob, "after", group="g")
        assert logger.seen == ["bob: after"]


async def test_a_declined_suggest_reaches_later_handlers_after_its_command() -> None:
    logger = Logger()
    async with Simulator(plugins=[Asker, logger]) as sim:
        alice = sim.user("alice")
        (hint,) = await sim.send(alice, "/city Londn", group="g")
        assert "London" in hint.text
        assert logger.seen == ["alice: /city Londn"]
        # Not "." : declined, and the answer goes on to the plugins, after its command.
        assert texts(await sim.send(alice, "no thanks", group="g")) == ["city: None"]
        assert logger.seen == ["alice: /city Londn", "alice: no thanks"]


class Remember(Plugin):
    """Reads its command's arguments after a conversation, while later handlers ran meanwhile."""

    name = "remember"

    @command("remember")
    async def remember(self, event: MessageEvent) -> None:
        answer = await event.prompt(timeout=30)
        await event.send(f"{' '.join(event.args)} = {answer}")


class Plain(Plugin):
    """Runs after /remember's handler on the same message, while that one waits."""

    name = "plain_after"

    def __init__(self) -> None:
        self.args_seen: list[list[str]] = []

    @on_message(priority=-2)
    async def plain(self, event: MessageEvent) -> None:
        self.args_seen.append(list(event.args))


async def test_a_handler_keeps_its_own_arguments_while_the_chain_goes_on() -> None:
    after = Plain()
    async with Simulator(plugins=[Remember, after]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/remember the answer", group="g")
        assert after.args_seen == [[]]  # its own view: not the command's arguments
        out = await sim.send(alice, "42", group="g")
        assert texts(out) == ["the answer = 42"]  # and /remember still has its own
