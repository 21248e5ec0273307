"""Issue 11.10, after f1d6dce (found by tests/session/test_model.py): waiting chains pass each other.

API section 3: every handler sees messages in arrival order. A message held at its sender's gate
keeps its place: the chains of later messages wait before each handler it would reach until it
goes on. But when it does, those chains go on in the order in which they last began to wait, not
in arrival order. In one loop turn, in group ``g`` (``order_window`` 2 s, the default):

- cy ``/slow 1`` and ann ``/slow 5`` run their handlers, closing cy's and ann's gates;
- ann ``a`` waits at ann's gate and keeps its place; bob ``b`` waits before the journal for it;
- cy ``c`` waits at cy's gate and keeps its place (after ``b``'s).

At 1 s cy's handler returns and ``c`` goes on: its task gives up ``c``'s place, which wakes ``b``,
and waits before the journal for ``a`` at once; ``b`` wakes and waits again, now behind ``c``. At
2 s ann's gate opens and ``a`` goes on; the journal sees ``a, c, b``. Expected: ``a, b, c``.

The cause was in ``EventBus._wait_for_earlier``: every place given up wakes every waiting chain
(one shared future), and each waits again in the order it runs, so a chain that starts at that
moment, or one published in the same step before the place was given up (``App._route`` cancels
a session, handing its queue to the handlers, before it gives up the exit word's place), goes
ahead of those that were waiting.
"""

from __future__ import annotations

import asyncio

from waiter_sdk import MessageEvent, Plugin, command, on_message
from waiter_sdk.config import Settings
from waiter_sdk.testing import Simulator


class Journal(Plugin):
    name = "journal"

    def __init__(self) -> None:
        self.saw: list[tuple[str, float]] = []

    @command("slow")
    async def slow(self, event: MessageEvent) -> None:
        await asyncio.sleep(float(event.args[0]))  # its sender's gate stays closed meanwhile

    @on_message(priority=-10)
    async def note(self, event: MessageEvent) -> None:
        self.saw.append((event.message_str, asyncio.get_running_loop().time()))


async def journal(window: float) -> list[tuple[str, float]]:
    plugin = Journal()
    settings = Settings.load(session={"order_window": window})
    async with Simulator(plugins=[plugin], settings=settings) as sim:
        ann, bob, cy = sim.user("ann"), sim.user("bob"), sim.user("cy")
        burst = ((cy, "/slow 1"), (ann, "/slow 5"), (ann, "a"), (bob, "b"), (cy, "c"))
        for user, text in burst:  # one loop turn
            sim.app.dispatch(sim.message(user, text, group="g"))
        await sim.settle()
        await sim.advance(6)
    return plugin.saw


async def test_chains_waiting_for_a_place_go_on_in_arrival_order() -> None:
    saw = await journal(window=2.0)
    assert saw == [("/slow 1", 1.0), ("a", 2.0), ("b", 2.0), ("c", 2.0), ("/slow 5", 5.0)]


async def test_without_the_gate_nothing_waits() -> None:
    saw = await journal(window=0.0)
    assert saw == [("a", 0.0), ("b", 0.0), ("c", 0.0), ("/slow 1", 1.0), ("/slow 5", 5.0)]
