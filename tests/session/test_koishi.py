"""Koishi-style helpers: prompt, suggest, send_queued / cancel_queued, execute, in virtual time."""

from __future__ import annotations

import asyncio

import pytest

from tests.kit import Fallback, texts
from waiter_sdk import MessageChain, MessageEvent, Plugin, command
from waiter_sdk.config import Settings
from waiter_sdk.exceptions import QueueCancelledError
from waiter_sdk.session.suggest import similarity, suggest
from waiter_sdk.testing import Outgoing, Simulator

# --- prompt ----------------------------------------------------------------------------------


class Namer(Plugin):
    name = "namer"

    @command("name")
    async def name_(self, event: MessageEvent) -> None:
        await event.send("Your name?")
        timeout = float(event.args[0]) if event.args else None
        answer = await event.prompt(timeout)
        await event.send(f"name {answer!r}")


async def test_prompt_returns_the_senders_next_text() -> None:
    async with Simulator(plugins=[Namer, Fallback]) as sim:
        await sim.send(sim.user("alice"), "/name", group="g1")
        # Another member's message is not the answer (and reaches the plugins).
        assert texts(await sim.send(sim.user("bob"), "Bob", group="g1")) == ["plugin saw Bob"]
        assert texts(await sim.send(sim.user("alice"), "Alice", group="g1")) == ["name 'Alice'"]


async def test_prompt_returns_none_on_timeout() -> None:
    async with Simulator(plugins=[Namer, Fallback]) as sim:
        await sim.send(sim.user("alice"), "/name 10")
        assert await sim.advance(9.9) == []
        assert texts(await sim.advance(0.1)) == ["name None"]
        assert texts(await sim.send(sim.user("alice"), "late")) == ["plugin saw late"]


async def test_prompt_waits_60_seconds_by_default() -> None:
    async with Simulator(plugins=[Namer, Fallback]) as sim:
        await sim.send(sim.user("alice"), "/name")
        assert await sim.advance(59.9) == []
        assert texts(await sim.advance(0.1)) == ["name None"]


# --- suggest ---------------------------------------------------------------------------------


class Commands(Plugin):
    name = "commands"

    @command("weather")
    async def weather(self, event: MessageEvent) -> None:
        await event.send("sunny")

    @command("go")
    async def go(self, event: MessageEvent) -> None:
        choice = await event.suggest(
            ["weather", "help", "parrot"],
            event.args[0],
            prefix="Unknown command. ",
            suffix=" (10 s)",
            timeout=10,
        )
        await event.send(f"choice {choice!r}")


HINT = "Unknown command. Did you mean “weather”? Send . or 。 to confirm. (10 s)"


async def test_suggest_returns_the_candidate_when_the_sender_confirms() -> None:
    async with Simulator(plugins=[Commands, Fallback]) as sim:
        alice = sim.user("alice")
        assert texts(await sim.send(alice, "/go wether", group="g1")) == [HINT]
        # Only the sender can confirm: bob's "." is his own message.
        assert texts(await sim.send(sim.user("bob"), ".", group="g1")) == ["plugin saw ."]
        assert texts(await sim.send(alice, ".", group="g1")) == ["choice 'weather'"]
        await sim.send(alice, "/go wether", group="g1")
        assert texts(await sim.send(alice, " 。 ", group="g1")) == ["choice 'weather'"]


async def test_suggest_decline_returns_none_and_the_message_is_not_swallowed() -> None:
    async with Simulator(plugins=[Commands, Fallback]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/go wether", group="g1")
        # The user ignores the question and types the command properly: it runs.
        out = await sim.send(alice, "/weather", group="g1")
        assert sorted(texts(out)) == ["choice None", "sunny"]
        await sim.send(alice, "/go wether", group="g1")
        out = await sim.send(alice, "no thanks", group="g1")
        assert sorted(texts(out)) == ["choice None", "plugin saw no thanks"]
        assert len(sim.app.sessions) == 0


async def test_suggest_keeps_the_order_of_messages_sent_right_after_a_decline() -> None:
    async with Simulator(plugins=[Commands, Fallback]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/go wether", group="g1")
        # Two messages in one burst: the declined one must reach the plugins first.
        sim.app.dispatch(sim.message(alice, "first", group="g1"))
        sim.app.dispatch(sim.message(alice, "second", group="g1"))
        out = await sim.settle()
        seen = [t for t in texts(out) if t.startswith("plugin saw")]
        assert seen == ["plugin saw first", "plugin saw second"]


async def test_suggest_without_a_close_candidate_sends_the_prefix_and_does_not_wait() -> None:
    async with Simulator(plugins=[Commands, Fallback]) as sim:
        out = await sim.send(sim.user("alice"), "/go xyzzy", group="g1")
        assert texts(out) == ["Unknown command.", "choice None"]
        assert len(sim.app.sessions) == 0


async def test_suggest_returns_none_on_timeout() -> None:
    async with Simulator(plugins=[Commands, Fallback]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/go wether")
        assert await sim.advance(9.9) == []
        assert texts(await sim.advance(0.1)) == ["choice None"]
        assert texts(await sim.send(alice, ".")) == ["plugin saw ."]


async def test_suggest_wording_can_be_replaced() -> None:
    class German(Plugin):
        name = "german"

        @command("los")
        async def los(self, event: MessageEvent) -> None:
            choice = await suggest(event, ["wetter"], "weter", hint="Meinten Sie „{candidate}“?")
            await event.send(f"wahl {choice}")

    async with Simulator(plugins=[German]) as sim:
        assert texts(await sim.send(sim.user("alice"), "/los")) == ["Meinten Sie „wetter“?"]
        assert texts(await sim.send(sim.user("alice"), ".")) == ["wahl wetter"]


def test_similarity_is_normalised_levenshtein_ignoring_case() -> None:
    assert similarity("weather", "weather") == 1.0
    assert similarity("Weather", "wEATHER") == 1.0
    assert similarity("weather", "wether") == pytest.approx(1 - 1 / 7)
    assert similarity("abc", "xyz") == 0.0
    assert similarity("", "") == 1.0
    assert similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)


async def test_suggest_offers_the_most_similar_candidate_first_on_ties() -> None:
    offered: list[str] = []

    class Pick(Plugin):
        name = "pick"

        @command("pick")
        async def pick(self, event: MessageEvent) -> None:
            await suggest(event, event.args[1:], event.args[0], timeout=1)

    async with Simulator(plugins=[Pick]) as sim:
        for line in ("/pick cat bat cot", "/pick cat cut dog cart", "/pick cat dog"):
            out = await sim.send(sim.user("alice"), line)
            offered.extend(texts(out))
            await sim.advance(1)
    assert offered == [
        "Did you mean “bat”? Send . or 。 to confirm.",  # bat and cot tie: the first wins
        "Did you mean “cart”? Send . or 。 to confirm.",  # 0.75 beats cut's 0.67
    ]  # and "dog" (0.0) is below the default 0.4: nothing offered, nothing sent


# --- send_queued / cancel_queued -------------------------------------------------------------


class Teller(Plugin):
    name = "teller"

    @command("tell")
    async def tell(self, event: MessageEvent) -> None:
        delay = float(event.args[0]) if event.args else None
        try:
            for line in ("one", "two", "three", "four"):
                await event.send_queued(line, delay)
        except QueueCancelledError:
            await event.send("story cut")

    @command("burst")
    async def burst(self, event: MessageEvent) -> None:
        await asyncio.gather(*(event.send_queued(f"{event.sender_id}-{x}", 1) for x in "abc"))
        await event.send(f"{event.sender_id} done")

    @command("hush")
    async def hush(self, event: MessageEvent) -> None:
        await event.send(f"dropped {await event.cancel_queued()}")


def _timeline(out: list[Outgoing], start: float) -> list[tuple[str, float]]:
    return [(o.text, round(o.at - start, 6)) for o in out]


async def test_send_queued_keeps_order_and_the_gap_between_messages() -> None:
    async with Simulator(plugins=[Teller]) as sim:
        start = sim.time()
        out = await sim.send(sim.user("alice"), "/tell 2", group="g1")
        out += await sim.advance(10)
        assert _timeline(out, start) == [("one", 0), ("two", 2), ("three", 4), ("four", 6)]
        assert len(sim.app.outbound) == 0  # the queue is gone once empty


async def test_send_queued_default_gap_comes_from_settings() -> None:
    settings = Settings.load(session={"queue_delay": 0.5})
    async with Simulator(plugins=[Teller], settings=settings) as sim:
        start = sim.time()
        out = await sim.send(sim.user("alice"), "/tell")
        out += await sim.advance(5)
        assert _timeline(out, start) == [("one", 0), ("two", 0.5), ("three", 1), ("four", 1.5)]


async def test_send_queued_conversations_do_not_wait_for_each_other() -> None:
    async with Simulator(plugins=[Teller]) as sim:
        start = sim.time()
        out = await sim.send(sim.user("alice"), "/tell 2", group="g1")
        out += await sim.send(sim.user("bob"), "/tell 2", group="g2")
        out += await sim.advance(10)
        g1 = _timeline([o for o in out if o.group_id == "g1"], start)
        g2 = _timeline([o for o in out if o.group_id == "g2"], start)
        assert g1 == g2 == [("one", 0), ("two", 2), ("three", 4), ("four", 6)]


async def test_send_queued_one_conversation_shares_one_queue_in_call_order() -> None:
    async with Simulator(plugins=[Teller]) as sim:
        start = sim.time()
        sim.app.dispatch(sim.message(sim.user("alice"), "/burst", group="g1"))
        sim.app.dispatch(sim.message(sim.user("bob"), "/burst", group="g1"))
        out = await sim.settle()
        out += await sim.advance(10)
        assert _timeline(out, start) == [
            ("alice-a", 0),
            ("alice-b", 1),
            ("alice-c", 2),
            ("alice done", 2),
            ("bob-a", 3),
            ("bob-b", 4),
            ("bob-c", 5),
            ("bob done", 5),
        ]


async def test_cancel_queued_drops_what_is_not_sent_and_the_caller_is_told() -> None:
    async with Simulator(plugins=[Teller]) as sim:
        start = sim.time()
        out = await sim.send(sim.user("alice"), "/tell 2", group="g1")
        out += await sim.advance(1)
        out += await sim.send(sim.user("bob"), "/hush", group="g1")
        out += await sim.advance(10)
        # "two" was waiting: dropped, and the teller's send_queued raised instead of hanging.
        assert _timeline(out, start) == [("one", 0), ("dropped 1", 1), ("story cut", 1)]
        assert len(sim.app.outbound) == 0


async def test_cancel_queued_ends_a_gathered_burst_quietly() -> None:
    async with Simulator(plugins=[Teller]) as sim:
        start = sim.time()
        out = await sim.send(sim.user("alice"), "/burst", group="g1")
        out += await sim.send(sim.user("bob"), "/hush", group="g1")
        out += await sim.advance(10)
        # b and c were dropped; the burst handler ended (no "alice done") without an error.
        assert _timeline(out, start) == [("alice-a", 0), ("dropped 2", 0)]


async def test_cancel_queued_with_nothing_queued_returns_zero() -> None:
    async with Simulator(plugins=[Teller]) as sim:
        assert texts(await sim.send(sim.user("alice"), "/hush")) == ["dropped 0"]


async def test_a_cancelled_caller_sends_nothing_and_the_queue_moves_on() -> None:
    async with Simulator(plugins=[]) as sim:
        event = sim.message(sim.user("alice"), "x", group="g1")
        event._context = sim.app
        start = sim.time()
        tasks = [
            asyncio.create_task(sim.app.outbound.send(event, MessageChain([text]), 1))
            for text in ("a", "b", "c")
        ]
        await sim.settle()
        tasks[1].cancel()
        out = await sim.advance(5)
        assert _timeline(sim.outbox, start) == [("a", 0), ("c", 1)]
        assert out == sim.outbox[1:]
        assert [t.cancelled() for t in tasks] == [False, True, False]
        assert [tasks[0].result(), tasks[2].result()] == [o.message_id for o in sim.outbox]
        assert len(sim.app.outbound) == 0


async def test_send_queued_with_nothing_to_send_returns_at_once() -> None:
    async with Simulator(plugins=[]) as sim:
        event = sim.message(sim.user("alice"), "x")
        event._context = sim.app
        assert await sim.app.outbound.send(event, MessageChain([]), 5) is None
        assert sim.outbox == []
        with pytest.raises(ValueError, match="delay"):
            await sim.app.outbound.send(event, MessageChain(["x"]), -1)


# --- execute ---------------------------------------------------------------------------------


class Runner(Plugin):
    name = "runner"

    @command("echo")
    async def echo(self, event: MessageEvent) -> None:
        await event.send(" ".join(event.args))
        await event.send(f"by {event.sender_id}")

    @command("twice")
    async def twice(self, event: MessageEvent) -> None:
        sent = await event.execute("/echo hi there")
        await event.send(f"captured {sent}")


async def test_execute_runs_a_command_as_the_sender_and_returns_what_it_sent() -> None:
    async with Simulator(plugins=[Runner]) as sim:
        out = await sim.send(sim.user("alice"), "/twice", group="g1")
        assert texts(out) == ["hi there", "by alice", "captured ['hi there', 'by alice']"]
        assert {o.group_id for o in out} == {"g1"}
