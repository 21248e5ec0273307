"""Issue 15.1: the inspector showed deadlines that would never fire, and the wrong end reason.

A botoy session's deadline moves at every question (``math.inf`` between two of them), and
``keep()`` moves any session's deadline, without telling anyone: the sandbox re-read every
session twice a second to catch it. ``App.listen("session_changed")`` now reports each move,
and costs nothing while nobody listens. A login whose ``must_text`` timed out ended as
``"stopped"``; it ends as ``"timeout"``.
"""

from __future__ import annotations

import contextlib
import math

from example_plugins.login import Login
from waiter_sdk import (
    GroupSessionFilter,
    MessageEvent,
    Plugin,
    SessionController,
    command,
    session_waiter,
)
from waiter_sdk.testing import Simulator


class Slow(Plugin):
    """A group game whose waiter moves the deadline when told "slow"."""

    name = "slow"

    @command("slow-game")
    async def game(self, event: MessageEvent) -> None:
        @session_waiter(timeout=30)
        async def turn(controller: SessionController, reply: MessageEvent) -> None:
            if reply.message_str == "slow":
                controller.keep(100, reset_timeout=True)
            elif reply.message_str == "more":
                controller.keep(5)

        with contextlib.suppress(TimeoutError):
            await turn(event, session_filter=GroupSessionFilter())


async def test_keep_is_reported_as_session_changed_with_the_new_deadline() -> None:
    async with Simulator(plugins=[Slow]) as sim:
        moves: list[tuple[str, float]] = []
        sim.app.listen("session_changed", lambda s: moves.append((s.key, s.remaining)))
        alice = sim.user("alice")
        await sim.send(alice, "/slow-game", group="g1")
        assert moves == []  # opening is session_opened, not a change
        await sim.send(alice, "slow", group="g1")
        await sim.send(alice, "more", group="g1")
        await sim.send(alice, "nothing", group="g1")  # delivered, deadline unmoved: no change
        assert [round(left) for _, left in moves] == [100, 105]
        assert len({key for key, _ in moves}) == 1


async def test_nobody_listening_means_no_hook_and_unlisten_removes_it() -> None:
    async with Simulator(plugins=[Slow]) as sim:
        registry = sim.app.session_registry
        assert registry.on_change is None
        first = sim.app.listen("session_changed", lambda s: None)
        second = sim.app.listen("session_changed", lambda s: None)
        assert registry.on_change is not None
        first()
        assert registry.on_change is not None
        second()
        assert registry.on_change is None
        await sim.send(sim.user("alice"), "/slow-game", group="g1")
        await sim.send(sim.user("alice"), "slow", group="g1")  # no hook, nothing to call


class QuickLogin(Login):
    step_timeout = 20.0


async def test_a_botoy_step_is_a_change_and_between_steps_there_is_no_deadline() -> None:
    async with Simulator(plugins=[QuickLogin]) as sim:
        deadlines: list[float] = []
        sim.app.listen("session_changed", lambda s: deadlines.append(s.remaining))
        carol = sim.user("carol", "Carol")
        await sim.send(carol, "/login", group="g1")
        # The first question waits 20 s: that is the deadline that will fire.
        assert deadlines == [20.0]
        (info,) = sim.app.sessions.list()
        assert info.remaining == 20.0
        await sim.advance(5)
        await sim.send(carol, "alice")  # answered: no deadline, then the next 20 s question
        assert deadlines[1:] == [math.inf, 20.0]


async def test_a_login_that_timed_out_ends_as_timeout_not_stopped() -> None:
    async with Simulator(plugins=[QuickLogin]) as sim:
        reasons: list[str | None] = []
        sim.app.listen("session_ended", lambda s: reasons.append(s.reason))
        carol = sim.user("carol", "Carol")
        await sim.send(carol, "/login", group="g1")
        out = await sim.advance(21)
        assert [o.text for o in out] == ["⏰ Login timed out. Send /login to start again."]
        assert reasons == ["timeout"]
        assert sim.app.sessions.ended_counts == {"timeout": 1}


async def test_finish_still_ends_as_stopped() -> None:
    async with Simulator(plugins=[QuickLogin]) as sim:
        reasons: list[str | None] = []
        sim.app.listen("session_ended", lambda s: reasons.append(s.reason))
        carol = sim.user("carol", "Carol")
        await sim.send(carol, "/login")
        await sim.send(carol, "cancel")
        assert reasons == ["stopped"]
