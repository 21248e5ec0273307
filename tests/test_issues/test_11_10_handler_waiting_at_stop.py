"""Issue 11.10, after f1d6dce (found by tests/session/test_model.py): a handler still waiting for
an earlier message's place when the app stops is started during the stop.

API rule 13: ``App.stop()`` ends every open session, and their callers raise
``SessionClosedError``. docs/bus.md: stop ends every open session, gives the handlers that opened
them ``session.shutdown_grace`` seconds, "then it cancels what is left". But ``App._wind_down``
gives up every kept place (``EventBus.release_all``) before it waits for those openers, so a chain
that was waiting before its first handler for an earlier held message runs that handler during
the grace period, after every session was ended. A session it opens is ended by the stop too,
but its caller is cancelled (``CancelledError``) instead of raising ``SessionClosedError``. With no
session open, the same handler never runs: what a handler does at stop depends on whether some
unrelated session happened to be open. In group ``g`` (``order_window`` 2 s, the default):

- cy ``/open`` opens a session;
- in one loop turn: ann ``/slow`` (her gate closes), ann ``/open`` (held at it, keeps its place,
  so later ``/open`` handlers wait for it), bob ``/open`` (waits before the ``/open`` handler);
- the app stops: bob's handler runs, opens a session, and its caller ends with
  ``CancelledError``. Expected: bob's handler does not start (it is cancelled while waiting), or
  its caller raises ``SessionClosedError`` like cy's.
"""

from __future__ import annotations

import asyncio

from waiter_sdk import MessageEvent, Plugin, SessionController, command, session_waiter
from waiter_sdk.config import Settings
from waiter_sdk.testing import Simulator


class Rooms(Plugin):
    name = "rooms"

    def __init__(self) -> None:
        self.ends: dict[str, str] = {}

    @command("slow")
    async def slow(self, event: MessageEvent) -> None:
        await asyncio.sleep(5)  # its sender's gate stays closed meanwhile

    @command("open")
    async def open(self, event: MessageEvent) -> None:
        @session_waiter(timeout=60)
        async def room(controller: SessionController, reply: MessageEvent) -> None:
            pass

        try:
            await room(event)
        except BaseException as exc:
            self.ends[event.sender_id] = type(exc).__name__
            raise
        self.ends[event.sender_id] = "returned"


async def stop_while_bob_waits(cy_has_a_session: bool) -> dict[str, str]:
    rooms = Rooms()
    settings = Settings.load(session={"order_window": 2.0})
    sim = Simulator(plugins=[rooms], settings=settings)
    await sim.start()
    ann, bob, cy = sim.user("ann"), sim.user("bob"), sim.user("cy")
    if cy_has_a_session:
        await sim.send(cy, "/open", group="g")
    for user, text in ((ann, "/slow"), (ann, "/open"), (bob, "/open")):
        sim.app.dispatch(sim.message(user, text, group="g"))  # one loop turn
    await sim.settle()
    assert rooms.ends == {}
    assert len(sim.app.sessions) == int(cy_has_a_session)  # bob's handler has not run
    await sim.stop()
    return rooms.ends


async def test_a_waiting_handler_is_not_started_by_stop() -> None:
    ends = await stop_while_bob_waits(cy_has_a_session=True)
    assert ends["cy"] == "SessionClosedError"  # rule 13
    assert ends.get("bob") in (None, "SessionClosedError")


async def test_with_no_session_open_the_waiting_handler_is_cancelled() -> None:
    assert await stop_while_bob_waits(cy_has_a_session=False) == {}
