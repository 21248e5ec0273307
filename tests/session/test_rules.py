"""API.md section 4, rule by rule, in virtual time. Each test fails without its rule."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from waiter_sdk import (
    GroupSessionFilter,
    MessageEvent,
    Plain,
    Plugin,
    ReplySessionFilter,
    SenderSessionFilter,
    SessionBusyError,
    SessionClosedError,
    SessionController,
    SessionFilter,
    SessionTimeoutError,
    UserSessionFilter,
    command,
    on_message,
    session_waiter,
)
from waiter_sdk.testing import Simulator

Waiter = Callable[[SessionController, MessageEvent], Awaitable[None]]


class Lab(Plugin):
    """Opens sessions as each test tells it to, and records what happened."""

    name = "lab"
    waiter: Any = None
    filter: SessionFilter | None = None
    outcomes: list[str]
    seen: list[str]

    def __init__(self) -> None:
        self.outcomes = []
        self.seen = []

    @command("open")
    async def open(self, event: MessageEvent) -> None:
        event.stop_event()  # the fallback below records only what reaches the plugins later
        try:
            await self.waiter(event, session_filter=self.filter)
            self.outcomes.append("returned")
        except SessionTimeoutError:
            self.outcomes.append("timeout")
        except SessionBusyError:
            self.outcomes.append("busy")
        except SessionClosedError:
            self.outcomes.append("closed")
        except Exception as exc:
            self.outcomes.append(f"raised {exc}")

    @on_message(priority=-100)
    async def fallback(self, event: MessageEvent) -> None:
        self.seen.append(event.message_str)


def lab(waiter: Any, session_filter: SessionFilter | None = None) -> Lab:
    plugin = Lab()
    plugin.waiter = waiter
    plugin.filter = session_filter
    return plugin


def recorder(got: list[str], *, timeout: float = 60, stop_on: str = "stop", **options: Any) -> Any:
    @session_waiter(timeout=timeout, **options)
    async def waiter(controller: SessionController, event: MessageEvent) -> None:
        got.append(event.message_str)
        if event.message_str == stop_on:
            controller.stop()

    return waiter


async def test_rule1_open_waits_and_trigger_not_delivered() -> None:
    got: list[str] = []
    plugin = lab(recorder(got))
    async with Simulator(plugins=[plugin]) as sim:
        a = sim.user("a")
        await sim.send(a, "/open")
        assert got == [] and plugin.outcomes == []  # still waiting, trigger not delivered
        assert len(sim.app.sessions) == 1
        await sim.send(a, "stop")
        assert got == ["stop"] and plugin.outcomes == ["returned"]
        assert len(sim.app.sessions) == 0


async def test_rule2_in_order_one_at_a_time_and_consumed() -> None:
    order: list[str] = []
    running = 0

    @session_waiter(timeout=60)
    async def slow(controller: SessionController, event: MessageEvent) -> None:
        nonlocal running
        running += 1
        assert running == 1, "two waiter calls ran at once"
        order.append(f"start {event.message_str}")
        await asyncio.sleep(1)
        order.append(f"end {event.message_str}")
        running -= 1
        if event.message_str == "3":
            controller.stop()

    plugin = lab(slow)
    async with Simulator(plugins=[plugin]) as sim:
        a = sim.user("a")
        await sim.send(a, "/open")
        for text in ("1", "2", "3"):
            sim.app.dispatch(sim.message(a, text))
        await sim.advance(5)
        assert order == ["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]
        assert plugin.seen == []  # consumed: the fallback handler never saw them
        assert plugin.outcomes == ["returned"]


async def test_rule3_deadline_fixed_without_keep() -> None:
    got: list[str] = []
    plugin = lab(recorder(got, timeout=10))
    async with Simulator(plugins=[plugin]) as sim:
        a = sim.user("a")
        await sim.send(a, "/open")
        await sim.advance(6)
        await sim.send(a, "x")  # a message does not move the deadline
        await sim.advance(3.9)
        assert plugin.outcomes == []
        await sim.advance(0.2)
        assert plugin.outcomes == ["timeout"] and got == ["x"]


@pytest.mark.parametrize(
    ("timeout", "reset", "at", "expect_end", "expect_deadline"),
    [
        (30, True, 5, None, 35.0),  # reset: now + 30
        (0, True, 5, "returned", None),  # reset with 0 ends normally at once
        (-5, True, 5, "returned", None),  # negative too
        (30, False, 5, None, 40.0),  # add: old deadline (10) + 30
        (-3, False, 5, None, 7.0),  # add negative leaving time
        (-6, False, 5, "returned", None),  # add negative exhausting
    ],
)
async def test_rule4_keep_table(
    timeout: float,
    reset: bool,
    at: float,
    expect_end: str | None,
    expect_deadline: float | None,
) -> None:
    seen: dict[str, float] = {}

    @session_waiter(timeout=10)
    async def keeper(controller: SessionController, event: MessageEvent) -> None:
        controller.keep(timeout, reset_timeout=reset)
        seen["deadline"] = controller.deadline - opened
        seen["reason"] = controller.reason  # type: ignore[assignment]

    plugin = lab(keeper)
    async with Simulator(plugins=[plugin]) as sim:
        a = sim.user("a")
        opened = sim.time()
        await sim.send(a, "/open")
        await sim.advance(at)
        await sim.send(a, "keep")
        if expect_end is not None:
            assert plugin.outcomes == [expect_end]
            assert seen["reason"] == "exhausted"
        else:
            assert plugin.outcomes == []
            assert seen["deadline"] == expect_deadline
            assert expect_deadline is not None
            await sim.advance(expect_deadline - at - 0.01)
            assert plugin.outcomes == []
            await sim.advance(0.02)
            assert plugin.outcomes == ["timeout"]


async def test_rule4_no_keep_at_all_times_out_at_opening_plus_timeout() -> None:
    plugin = lab(recorder([], timeout=20))
    async with Simulator(plugins=[plugin]) as sim:
        await sim.send(sim.user("a"), "/open")
        await sim.advance(19.99)
        assert plugin.outcomes == []
        await sim.advance(0.02)
        assert plugin.outcomes == ["timeout"]


async def test_rule4_repeated_keep_pushes_the_deadline_each_time() -> None:
    @session_waiter(timeout=10)
    async def keeper(controller: SessionController, event: MessageEvent) -> None:
        controller.keep(10, reset_timeout=True)

    plugin = lab(keeper)
    async with Simulator(plugins=[plugin]) as sim:
        a = sim.user("a")
        await sim.send(a, "/open")
        for _ in range(5):
            await sim.advance(8)
            await sim.send(a, "still here")
        assert plugin.outcomes == []
        await sim.advance(10.01)
        assert plugin.outcomes == ["timeout"]


async def test_rule5_stop_with_and_without_error() -> None:
    @session_waiter(timeout=60)
    async def stopper(controller: SessionController, event: MessageEvent) -> None:
        if event.message_str == "fail":
            controller.stop(ValueError("bad input"))
        else:
            controller.stop()

    plugin = lab(stopper)
    async with Simulator(plugins=[plugin]) as sim:
        a = sim.user("a")
        await sim.send(a, "/open")
        await sim.send(a, "ok")
        await sim.send(a, "/open")
        await sim.send(a, "fail")
        assert plugin.outcomes == ["returned", "raised bad input"]


async def test_rule6_timeout_raises_builtin_timeout_and_cancels_running_call() -> None:
    events: list[str] = []

    @session_waiter(timeout=5)
    async def hanging(controller: SessionController, event: MessageEvent) -> None:
        events.append("started")
        try:
            await asyncio.sleep(100)
            events.append("finished")
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    plugin = lab(hanging)
    async with Simulator(plugins=[plugin]) as sim:
        a = sim.user("a")
        await sim.send(a, "/open")
        await sim.advance(1)
        await sim.send(a, "go")
        await sim.advance(4.5)
        assert plugin.outcomes == ["timeout"]
        assert events == ["started", "cancelled"]
        assert issubclass(SessionTimeoutError, TimeoutError)


async def test_rule7_waiter_exception_reaches_the_opener() -> None:
    @session_waiter(timeout=60)
    async def broken(controller: SessionController, event: MessageEvent) -> None:
        raise KeyError("oops")

    plugin = lab(broken)
    async with Simulator(plugins=[plugin]) as sim:
        a = sim.user("a")
        await sim.send(a, "/open")
        await sim.send(a, "x")
        assert plugin.outcomes == ["raised 'oops'"]
        assert sim.app.sessions.ended_counts == {"error": 1}


async def test_rule8_queued_messages_go_to_plugins_after_the_end() -> None:
    @session_waiter(timeout=60)
    async def first_only(controller: SessionController, event: MessageEvent) -> None:
        await asyncio.sleep(1)
        controller.stop()

    plugin = lab(first_only)
    async with Simulator(plugins=[plugin]) as sim:
        a = sim.user("a")
        await sim.send(a, "/open")
        for text in ("one", "two", "three"):
            sim.app.dispatch(sim.message(a, text))
        await sim.advance(2)
        assert plugin.outcomes == ["returned"]
        assert plugin.seen == ["two", "three"]


async def test_rule8_also_after_a_timeout() -> None:
    @session_waiter(timeout=3)
    async def stuck(controller: SessionController, event: MessageEvent) -> None:
        await asyncio.sleep(100)

    plugin = lab(stuck)
    async with Simulator(plugins=[plugin]) as sim:
        a = sim.user("a")
        await sim.send(a, "/open")
        for text in ("one", "two"):
            sim.app.dispatch(sim.message(a, text))
        await sim.advance(3)
        assert plugin.outcomes == ["timeout"] and plugin.seen == ["two"]


async def test_rule9_second_opener_busy_first_untouched() -> None:
    got: list[str] = []
    plugin = lab(recorder(got))
    async with Simulator(plugins=[plugin]) as sim:
        a = sim.user("a")
        await sim.send(a, "/open")
        await sim.send(a, "/open")  # consumed by the open session: it is a message to it
        assert got == ["/open"]
        # A second opener from elsewhere (another plugin's handler) is refused.
        event = sim.message(a, "x")
        event._context = sim.app
        with pytest.raises(SessionBusyError, match="already held"):
            await recorder([])(event)
        await sim.send(a, "stop")
        assert plugin.outcomes == ["returned"] and got == ["/open", "stop"]


async def test_rule9_conflict_replace_ends_the_old_session() -> None:
    got: list[str] = []
    replacing = recorder(got, conflict="replace")
    plugin = lab(replacing)
    async with Simulator(plugins=[plugin]) as sim:
        a = sim.user("a")
        await sim.send(a, "/open")
        event = sim.message(a, "x")
        event._context = sim.app
        task = asyncio.ensure_future(replacing(event))
        await sim.settle()
        assert plugin.outcomes == ["closed"]
        assert [s.key for s in sim.app.sessions] == [SenderSessionFilter().filter(event)]
        await sim.send(a, "stop")
        await task
        assert got == ["stop"]


async def test_rule10_old_session_cleanup_never_evicts_the_newer_one() -> None:
    got: list[str] = []
    replacing = recorder(got, conflict="replace")
    async with Simulator(plugins=[lab(replacing)]) as sim:
        a = sim.user("a")
        await sim.send(a, "/open")
        (old,) = list(sim.app.session_registry)
        await sim.send(sim.user("b"), "/open")
        event = sim.message(a, "x")
        event._context = sim.app
        task = asyncio.ensure_future(replacing(event))
        await sim.settle()
        new = sim.app.session_registry.get(old.key)
        assert new is not None and new is not old
        old._end("stopped")  # a late, repeated cleanup of the old one
        sim.app.session_registry.remove(old)
        assert sim.app.session_registry.get(old.key) is new
        await sim.send(a, "stop")
        await task
        assert got == ["stop"]


async def test_rule11_newest_matching_session_wins() -> None:
    got: list[str] = []
    group_waiter = recorder(got, stop_on="never")

    @session_waiter(timeout=60)
    async def personal(controller: SessionController, event: MessageEvent) -> None:
        got.append(f"personal {event.message_str}")
        controller.stop()

    async with Simulator(plugins=[lab(group_waiter, GroupSessionFilter())]) as sim:
        a, b = sim.user("a"), sim.user("b")
        await sim.send(a, "/open", group="g")
        await sim.send(b, "for the group", group="g")
        event = sim.message(a, "x", group="g")
        event._context = sim.app
        task = asyncio.ensure_future(personal(event))  # newer, sender filter
        await sim.settle()
        await sim.send(b, "bob again", group="g")  # only the group session matches
        await sim.send(a, "alice", group="g")  # both match: the newer one gets it
        await task
        await sim.send(a, "alice later", group="g")
        assert got == ["for the group", "bob again", "personal alice", "alice later"]


async def test_rule12_history_chains() -> None:
    histories: list[list[list[Any]]] = []

    @session_waiter(timeout=60, record_history_chains=True)
    async def record(controller: SessionController, event: MessageEvent) -> None:
        histories.append(controller.get_history_chains())
        if len(histories) == 2:
            controller.stop()

    @session_waiter(timeout=60)
    async def no_record(controller: SessionController, event: MessageEvent) -> None:
        histories.append(controller.get_history_chains())
        controller.stop()

    async with Simulator(plugins=[lab(record)]) as sim:
        a = sim.user("a")
        await sim.send(a, "/open")
        await sim.send(a, "one")
        await sim.send(a, "two")
        assert histories[0] == [[Plain("one")]]
        assert histories[1] == [[Plain("one")], [Plain("two")]]
        histories[1][0].append(Plain("mutated copy"))  # copies: the session is unaffected
    async with Simulator(plugins=[lab(no_record)]) as sim:
        await sim.send(sim.user("a"), "/open")
        await sim.send(sim.user("a"), "x")
        assert histories[2] == []


async def test_rule13_app_stop_closes_every_session() -> None:
    plugin = lab(recorder([]))
    sim = Simulator(plugins=[plugin])
    await sim.start()
    for name in ("a", "b", "c"):
        await sim.send(sim.user(name), "/open")
    assert len(sim.app.sessions) == 3
    await sim.stop()
    assert plugin.outcomes == ["closed"] * 3
    assert len(sim.app.sessions) == 0
    assert len(sim.app.bus.tasks) == 0 and len(sim.app.session_registry.tasks) == 0


async def test_rule14_keys_computed_once_per_distinct_filter() -> None:
    calls: list[str] = []

    class Counting(SessionFilter):
        def __init__(self, tag: str) -> None:
            self.tag = tag

        def filter(self, event: MessageEvent) -> str:
            calls.append(self.tag)
            return f"count|{self.tag}|{event.sender_id}"

    openers: list[asyncio.Future[None]] = []
    async with Simulator(plugins=[lab(recorder([]))]) as sim:
        for i in range(50):
            event = sim.message(sim.user(f"u{i}"), "/open")
            event._context = sim.app
            openers.append(asyncio.ensure_future(recorder([])(event, session_filter=Counting("x"))))
        for i in range(30):
            event = sim.message(sim.user(f"v{i}"), "/open")
            event._context = sim.app
            openers.append(asyncio.ensure_future(recorder([])(event, session_filter=Counting("y"))))
        await sim.settle()
        assert len(sim.app.sessions) == 80
        calls.clear()
        await sim.send(sim.user("nobody"), "hello")
        assert sorted(calls) == ["x", "y"]  # one key per distinct filter, not per session
    # Stopping the app ended them all: each opener saw it (and nothing is left unretrieved).
    outcomes = await asyncio.gather(*openers, return_exceptions=True)
    assert {type(o).__name__ for o in outcomes} == {"SessionClosedError"}


async def test_filters_capture_the_right_messages_in_a_group() -> None:
    a_msg = dict(platform="p", self_id="bot", message_id="1", sender_name="")
    from waiter_sdk import MessageChain

    def ev(sender: str, group: str | None) -> MessageEvent:
        return MessageEvent(message=MessageChain(["x"]), sender_id=sender, group_id=group, **a_msg)

    sender, grp, user = SenderSessionFilter(), GroupSessionFilter(), UserSessionFilter()
    alice_g1, bob_g1 = ev("alice", "g1"), ev("bob", "g1")
    alice_g2, alice_dm = ev("alice", "g2"), ev("alice", None)
    assert sender.filter(alice_g1) != sender.filter(bob_g1)
    assert sender.filter(alice_g1) != sender.filter(alice_g2) != sender.filter(alice_dm)
    assert grp.filter(alice_g1) == grp.filter(bob_g1) != grp.filter(alice_g2)
    assert user.filter(alice_g1) == user.filter(alice_g2) == user.filter(alice_dm)
    assert user.filter(alice_g1) != user.filter(bob_g1)
    assert ReplySessionFilter().filter(alice_g1) is None
    assert SenderSessionFilter() == SenderSessionFilter()
    assert hash(ReplySessionFilter(["1"])) == hash(ReplySessionFilter())


async def test_a_filter_returning_an_empty_key_is_an_error() -> None:
    class Empty(SessionFilter):
        def filter(self, event: MessageEvent) -> str:
            return ""

    plugin = lab(recorder([]), Empty())
    async with Simulator(plugins=[plugin]) as sim:
        await sim.send(sim.user("a"), "/open")
        assert plugin.outcomes and "no key to hold" in plugin.outcomes[0]
        assert len(sim.app.sessions) == 0


async def test_controller_properties() -> None:
    seen: dict[str, Any] = {}

    @session_waiter(timeout=30)
    async def look(controller: SessionController, event: MessageEvent) -> None:
        seen.update(
            key=controller.key,
            remaining=controller.remaining,
            stopped=controller.stopped,
        )
        controller.stop()
        seen["after"] = (controller.stopped, controller.remaining, controller.reason)

    async with Simulator(plugins=[lab(look)]) as sim:
        await sim.send(sim.user("a"), "/open", group="g")
        await sim.advance(10)
        await sim.send(sim.user("a"), "x", group="g")
        assert seen["key"] == "sender|sim|bot|gg|a"
        assert seen["remaining"] == pytest.approx(20)
        assert seen["stopped"] is False
        assert seen["after"] == (True, 0.0, "stopped")


async def test_reply_filter_with_explicit_ids_answers_only_those() -> None:
    got: list[str] = []

    class Two(Plugin):
        name = "two"

        @command("q")
        async def q(self, event: MessageEvent) -> None:
            await event.send("Which topic?")  # sent by the handler, but not the question
            question = await event.send("Q: 1 + 1?")

            @session_waiter(timeout=60)
            async def answer(controller: SessionController, reply: MessageEvent) -> None:
                got.append(reply.message_str)
                controller.stop()

            await answer(event, session_filter=ReplySessionFilter([question]))

    async with Simulator(plugins=[Two]) as sim:
        a = sim.user("a")
        topic, question = await sim.send(a, "/q", group="g")
        await sim.send(a, "quoting the topic", group="g", reply_to=topic.message_id)
        assert got == []
        await sim.send(a, "2", group="g", reply_to=question.message_id)
        assert got == ["2"]
