"""Issue 11.5: the test kit never hides a failure, and two simulators in one test both work.

(a) A crashing handler passed `assert await sim.send(...) == []`: the bus logged it and went on.
A handler or waiter that raises inside a Simulator now fails the test, raised from the `send` /
`advance` that caused it (or at exit), unless the test opts out with `raise_errors=False`.
(b) The `simulator` fixture is a factory, but a second simulator took over the first one's
clock: `await sim1.advance(31)` raised `NotIdleError` and teardown `AttributeError: 'time'`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.kit import texts
from waiter_sdk import MessageEvent, Plugin, SessionController, command, session_waiter
from waiter_sdk.testing import Simulator


class Crashes(Plugin):
    name = "crashes"

    @command("now")
    async def now(self, event: MessageEvent) -> None:
        raise ValueError("handler crashed")

    @command("waiter")
    async def waiter(self, event: MessageEvent) -> None:
        @session_waiter(timeout=60)
        async def answer(controller: SessionController, reply: MessageEvent) -> None:
            raise KeyError("waiter crashed")

        await answer(event)  # rule 7: the opener raises the waiter's exception; nobody catches

    @command("later")
    async def later(self, event: MessageEvent) -> None:
        @session_waiter(timeout=30)
        async def never(controller: SessionController, reply: MessageEvent) -> None:
            return None

        try:
            await never(event)
        except TimeoutError:
            raise RuntimeError("crashed after the timeout") from None

    @command("caught")
    async def caught(self, event: MessageEvent) -> None:
        @session_waiter(timeout=60)
        async def answer(controller: SessionController, reply: MessageEvent) -> None:
            raise KeyError("expected")

        try:
            await answer(event)
        except KeyError:
            await event.send("handled")


async def test_a_crashing_handler_fails_the_send_that_caused_it() -> None:
    async with Simulator(plugins=[Crashes]) as sim:
        with pytest.raises(ValueError, match="handler crashed"):
            await sim.send(sim.user("a"), "/now")
        assert texts(await sim.send(sim.user("a"), "/caught")) == []
        assert texts(await sim.send(sim.user("a"), "x")) == ["handled"]  # caught: no failure


async def test_a_crashing_waiter_fails_the_send_that_reached_it() -> None:
    async with Simulator(plugins=[Crashes]) as sim:
        await sim.send(sim.user("a"), "/waiter")
        with pytest.raises(KeyError, match="waiter crashed"):
            await sim.send(sim.user("a"), "answer")


async def test_a_crash_after_a_timeout_fails_the_advance() -> None:
    async with Simulator(plugins=[Crashes]) as sim:
        await sim.send(sim.user("a"), "/later")
        with pytest.raises(RuntimeError, match="after the timeout"):
            await sim.advance(30)


async def test_a_crash_nobody_raised_yet_fails_at_exit() -> None:
    sim = Simulator(plugins=[Crashes])
    await sim.start()
    sim.app.dispatch(sim.message(sim.user("a"), "/now"))  # no send: nothing raised it yet
    await sim.clock.settle()  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="handler crashed"):
        await sim.stop()  # what `async with` calls at exit


async def test_a_test_that_expects_the_crash_opts_out_and_reads_it() -> None:
    async with Simulator(plugins=[Crashes], raise_errors=False) as sim:
        assert await sim.send(sim.user("a"), "/now") == []
        await sim.send(sim.user("b"), "/now")
    assert [str(e) for e in sim.errors] == ["handler crashed"] * 2


async def test_two_simulators_in_one_test_share_one_clock_and_both_work(
    simulator: Callable[..., Awaitable[Simulator]],
) -> None:
    sim1 = await simulator(plugins=[Crashes])
    sim2 = await simulator(plugins=[Crashes])
    await sim1.send(sim1.user("a"), "/later")
    await sim2.send(sim2.user("b"), "/later")
    with pytest.raises(RuntimeError):
        await sim1.advance(31)  # both sessions time out: one clock moved for both
    with pytest.raises(RuntimeError):
        await sim2.settle()
    assert sim1.time() == sim2.time() == 31.0
    assert len(sim1.app.sessions) == len(sim2.app.sessions) == 0
