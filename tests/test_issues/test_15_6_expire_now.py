"""Issue 15 item 6: ``app.sessions.expire(key)`` fires a session's deadline at once.

It takes the same path as a real deadline (the opener gets ``TimeoutError``, a botoy
``must_text`` ends with its finish info), so a plugin's timeout can be tried without waiting.
"""

from __future__ import annotations

from example_plugins.guess_number import GuessNumber
from example_plugins.login import Login
from waiter_sdk.testing import Simulator


class Fixed(GuessNumber):
    def secret(self) -> int:
        return 42


async def test_expire_runs_the_timeout_path_of_a_waiter_session() -> None:
    async with Simulator(plugins=[Fixed]) as sim:
        await sim.send(sim.user("alice"), "/guess")
        (info,) = sim.app.sessions.list()
        assert await sim.app.sessions.expire(info.key)
        await sim.advance(0)
        assert sim.outbox[-1].text == "⏰ Time's up! The number was 42."
        assert sim.app.sessions.ended_counts == {"timeout": 1}
        assert not await sim.app.sessions.expire(info.key)  # gone: nothing to expire


async def test_expire_ends_a_botoy_question_with_its_finish_info() -> None:
    async with Simulator(plugins=[Login]) as sim:
        await sim.send(sim.user("carol"), "/login")
        (info,) = sim.app.sessions.list()
        assert await sim.app.sessions.expire(info.key)
        await sim.advance(0)
        assert sim.outbox[-1].text == "⏰ Login timed out. Send /login to start again."
        assert sim.app.sessions.ended_counts == {"timeout": 1}


async def test_expire_refuses_a_session_with_no_deadline() -> None:
    async with Simulator(plugins=[Login]) as sim:
        assert not await sim.app.sessions.expire("no such key")
