"""The bus, through the Simulator: priorities, stop propagation, isolation, commands."""

from __future__ import annotations

from collections.abc import AsyncIterator

import hypothesis
from hypothesis import strategies as st

from waiter_sdk import MessageEvent, MessageEventResult, Plugin, command, on_message, regex
from waiter_sdk.testing import Simulator


class Ordered(Plugin):
    name = "ordered"

    @on_message(priority=1)
    async def low(self, event: MessageEvent) -> None:
        await event.send("low")

    @on_message(priority=10)
    async def high(self, event: MessageEvent) -> None:
        await event.send("high")
        if event.message_str == "stop":
            event.stop_event()

    @on_message(priority=5)
    async def middle(self, event: MessageEvent) -> None:
        await event.send("middle")


async def test_handlers_run_from_highest_priority_down() -> None:
    async with Simulator(plugins=[Ordered]) as sim:
        out = await sim.send(sim.user("a"), "go")
        assert [o.text for o in out] == ["high", "middle", "low"]


async def test_stop_event_ends_propagation() -> None:
    async with Simulator(plugins=[Ordered]) as sim:
        out = await sim.send(sim.user("a"), "stop")
        assert [o.text for o in out] == ["high"]


class Faulty(Plugin):
    name = "faulty"

    @on_message(priority=9)
    async def boom(self, event: MessageEvent) -> None:
        raise ValueError("broken handler")

    @on_message(priority=0)
    async def after(self, event: MessageEvent) -> None:
        await event.send("still here")


async def test_a_raising_handler_is_logged_and_isolated(logs: list[str]) -> None:
    async with Simulator(plugins=[Faulty, Ordered], raise_errors=False) as sim:
        out = await sim.send(sim.user("a"), "go")
        assert [o.text for o in out] == ["high", "middle", "low", "still here"]
        out = await sim.send(sim.user("a"), "again")
        assert len(out) == 4
    assert [str(e) for e in sim.errors] == ["broken handler"] * 2
    errors = [line for line in logs if line.startswith("ERROR")]
    assert errors and all("boom" in e and "faulty" in e for e in errors)


class Generator(Plugin):
    name = "gen"

    @command("count")
    async def count(self, event: MessageEvent) -> AsyncIterator[MessageEventResult | str | None]:
        for i in range(1, 4):
            yield event.plain_result(str(i))
        yield None  # skipped
        yield "done"


async def test_async_generator_handlers_send_each_yield_in_order() -> None:
    async with Simulator(plugins=[Generator]) as sim:
        out = await sim.send(sim.user("a"), "/count")
        assert [o.text for o in out] == ["1", "2", "3", "done"]


class Commands(Plugin):
    name = "commands"

    @command("roll", aliases=["掷", "r"])
    async def roll(self, event: MessageEvent) -> None:
        await event.send("roll " + "|".join(event.args))

    @command("say", prefix="")
    async def say(self, event: MessageEvent) -> None:
        await event.send("say " + "|".join(event.args))

    @regex(r"^(\d+)\s*\+\s*(\d+)$")
    async def add(self, event: MessageEvent) -> None:
        assert event.match is not None
        await event.send(str(int(event.match[1]) + int(event.match[2])))


async def test_commands_parse_args_aliases_and_prefixes() -> None:
    async with Simulator(plugins=[Commands]) as sim:
        alice = sim.user("alice")
        assert [o.text for o in await sim.send(alice, "/roll 2d6 +3")] == ["roll 2d6|+3"]
        assert [o.text for o in await sim.send(alice, "/掷 1d20")] == ["roll 1d20"]
        assert [o.text for o in await sim.send(alice, "  /R  ")] == ["roll "]
        assert [o.text for o in await sim.send(alice, '/roll "two words" x')] == [
            "roll two words|x"
        ]
        assert [o.text for o in await sim.send(alice, "/rolling")] == []
        assert [o.text for o in await sim.send(alice, "roll 1")] == []
        assert [o.text for o in await sim.send(alice, "say hi")] == ["say hi"]
        assert [o.text for o in await sim.send(alice, "/say hi")] == []
        assert [o.text for o in await sim.send(alice, "2 + 40")] == ["42"]
        assert [o.text for o in await sim.send(alice, '/roll "unbalanced')] == ['roll "unbalanced']


async def test_help_lists_plugins_and_commands() -> None:
    async with Simulator(plugins=[Commands, Generator]) as sim:
        (out,) = await sim.send(sim.user("a"), "/help")
        assert "commands" in out.text and "/roll (掷, r)" in out.text
        assert "gen" in out.text and "/count" in out.text
        (only,) = await sim.send(sim.user("a"), "/help gen")
        assert "/count" in only.text and "/roll" not in only.text


async def test_a_raising_listener_never_breaks_routing(logs: list[str]) -> None:
    async with Simulator(plugins=[Ordered], raise_errors=False) as sim:

        def broken(*args: object) -> None:
            raise RuntimeError("observer bug")

        for kind in ("incoming", "sent", "session_opened", "session_ended"):
            sim.app.listen(kind, broken)  # type: ignore[arg-type]
        out = await sim.send(sim.user("a"), "go")
        assert [o.text for o in out] == ["high", "middle", "low"]
    assert sim.errors and {str(e) for e in sim.errors} == {"observer bug"}
    assert any("observer bug" in line or "listener" in line for line in logs)


# --- command arguments ----------------------------------------------------------------------


def _shlex_words(text: str) -> list[str]:
    import shlex

    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


@hypothesis.settings(max_examples=3000, deadline=None)
@hypothesis.given(st.text(alphabet="ab \t\r\n\"'\\$`\u3000", max_size=16))
def test_command_arguments_split_as_shlex_does(text: str) -> None:
    from waiter_sdk._bus import _split_args

    assert _split_args(text) == _shlex_words(text)


def test_a_huge_quoted_argument_is_one_word() -> None:
    # shlex grows a word one character at a time on an attribute: quadratic, minutes for
    # this one. Ours is one pass.
    from waiter_sdk._bus import _split_args

    word = "x" * 2_000_000
    assert _split_args(f'say "{word}" \\"end') == ["say", word, '"end']
