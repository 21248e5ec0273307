"""Issue 11.1: virtual time starts at a fixed origin, so deadline sums never depend on uptime.

A fresh clone failed `test_rule4_keep_table[30-True-5-None-35.0]` with 34.99999999999997: the
virtual clock started at the real `loop.time()`, and `uptime + 5 + 30 - uptime` is not exactly
35.0 for every uptime.
"""

from __future__ import annotations

import asyncio
import contextlib

from waiter_sdk import MessageEvent, Plugin, SessionController, command, session_waiter
from waiter_sdk.testing import ORIGIN, Simulator, VirtualClock


class Keeper(Plugin):
    name = "keeper"

    def __init__(self) -> None:
        self.deadlines: list[float] = []

    @command("open")
    async def open(self, event: MessageEvent) -> None:
        @session_waiter(timeout=10)
        async def keep(controller: SessionController, reply: MessageEvent) -> None:
            controller.keep(30, reset_timeout=True)
            self.deadlines.append(controller.deadline)

        with contextlib.suppress(TimeoutError):
            await keep(event)


async def test_virtual_time_starts_at_the_fixed_origin_on_every_loop() -> None:
    assert ORIGIN == 0.0
    async with Simulator() as sim:
        assert sim.time() == ORIGIN
        assert asyncio.get_running_loop().time() == ORIGIN


async def test_a_kept_deadline_is_the_exact_sum_whatever_the_machine_uptime() -> None:
    plugin = Keeper()
    async with Simulator(plugins=[plugin]) as sim:
        a = sim.user("a")
        await sim.send(a, "/open")
        await sim.advance(5)
        await sim.send(a, "keep")
        await sim.advance(0.1)
        await sim.send(a, "keep")
    # exactly, not approximately: 5 + 30 and 5.1 + 30 in binary floating point from 0.0
    assert plugin.deadlines == [35.0, 5.1 + 30]


async def test_timers_set_before_the_clock_keep_their_delay_both_ways() -> None:
    loop = asyncio.get_running_loop()
    fired: list[float] = []
    before = loop.call_later(7, lambda: fired.append(loop.time()))
    clock = VirtualClock.install()
    try:
        await clock.advance(6.5)
        assert fired == []
        await clock.advance(1)
        # due 7 s after it was set: on the virtual clock, 7 s less the instant between the
        # call_later and the install
        assert len(fired) == 1 and 6.5 < fired[0] <= 7.0
        later = loop.call_later(100, lambda: None)
    finally:
        clock.uninstall()
    before.cancel()
    # Back on the real clock, the virtual timer is still ahead by at most its 100 s, not
    # due at once (virtual 100 is in the real clock's past) nor an uptime away.
    assert 0 < later.when() - loop.time() <= 100
    later.cancel()
