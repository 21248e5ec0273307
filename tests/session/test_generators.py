"""Sessions opened inside async-generator handlers: yields and session sends keep their order."""

from __future__ import annotations

from collections.abc import AsyncIterator

from waiter_sdk import MessageEvent, Plugin, SessionController, command, session_waiter
from waiter_sdk.testing import Simulator


class Story(Plugin):
    name = "story"

    @command("story")
    async def story(self, event: MessageEvent) -> AsyncIterator[str]:
        yield "Once upon a time."
        yield "Pick a door: left or right?"

        @session_waiter(timeout=30)
        async def door(controller: SessionController, reply: MessageEvent) -> None:
            await reply.send(f"You open the {reply.message_str} door.")
            await reply.send("It creaks.")
            controller.stop()

        try:
            await door(event)
        except TimeoutError:
            yield "You stood still too long."
            return
        yield "The end."
        yield "(Thanks for playing.)"


async def test_yields_before_during_and_after_a_session_go_out_in_order() -> None:
    async with Simulator(plugins=[Story]) as sim:
        alice = sim.user("alice")
        out = await sim.send(alice, "/story", group="g")
        assert [o.text for o in out] == ["Once upon a time.", "Pick a door: left or right?"]
        out = await sim.send(alice, "left", group="g")
        assert [o.text for o in out] == [
            "You open the left door.",
            "It creaks.",
            "The end.",
            "(Thanks for playing.)",
        ]
        await sim.send(alice, "/story", group="g")
        out = await sim.advance(30)
        assert [o.text for o in out] == ["You stood still too long."]
        assert len(sim.app.sessions) == 0


class Counter(Plugin):
    name = "counter"

    def __init__(self) -> None:
        self.total = 0

    @session_waiter(timeout=30)
    async def add(self, controller: SessionController, reply: MessageEvent) -> None:
        if reply.message_str == "=":
            await reply.send(f"total {self.total}")
            controller.stop()
        else:
            self.total += int(reply.message_str)

    @command("sum")
    async def sum(self, event: MessageEvent) -> None:
        await self.add(event)


async def test_a_waiter_defined_as_a_method_binds_to_the_plugin() -> None:
    async with Simulator(plugins=[Counter]) as sim:
        bob = sim.user("bob")
        await sim.send(bob, "/sum")
        for number in ("1", "2", "39"):
            await sim.send(bob, number)
        assert [o.text for o in await sim.send(bob, "=")] == ["total 42"]


class Riddle(Plugin):
    """Listens before it asks, passes commands on, and redacts what it records."""

    name = "riddle"

    def __init__(self) -> None:
        self.history: list[list[object]] = []

    @command("riddle")
    async def riddle(self, event: MessageEvent) -> None:
        @session_waiter(timeout=30, record_history_chains=True)
        async def answer(controller: SessionController, reply: MessageEvent) -> None:
            if reply.message_str.startswith("/"):
                controller.pass_on(reply)  # not an answer: let the plugins have it
                return
            controller.redact_last()
            self.history = controller.get_history_chains()
            await reply.send("right" if reply.message_str == "echo" else "wrong")
            controller.stop()

        controller = await answer.open(event)
        await event.send("What repeats everything you say?")
        await controller.wait()

    @command("ping")
    async def ping(self, event: MessageEvent) -> None:
        await event.send("pong")


async def test_open_then_wait_pass_on_and_redact_last() -> None:
    from waiter_sdk import Plain

    async with Simulator(plugins=[Riddle]) as sim:
        carol = sim.user("carol")
        sim.app.dispatch(sim.message(carol, "/riddle"))
        await sim.settle()
        assert len(sim.app.sessions) == 1
        assert [o.text for o in await sim.send(carol, "/ping")] == ["pong"]
        assert len(sim.app.sessions) == 1
        assert [o.text for o in await sim.send(carol, "echo")] == ["right"]
        plugin = sim.app.plugins["riddle"]
        assert isinstance(plugin, Riddle)
        assert plugin.history == [[Plain("/ping")], [Plain("******")]]
