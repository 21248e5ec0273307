"""Issue 12.7: the app's lifecycle is one stack, unwound in reverse, also by a failed start.

`App.start` pushes the undo of each step it takes, `App.stop` unwinds them in reverse, and a
start that fails half-way undoes exactly what did start. Openers of the sessions that stopping
ends get `session.shutdown_grace` seconds to say goodbye while the adapters still run, instead
of three loop turns (`for _ in range(3): await asyncio.sleep(0)`) that a real send outlasts.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.kit import texts
from waiter_sdk import (
    App,
    MessageEvent,
    Plugin,
    SessionClosedError,
    SessionController,
    command,
    session_waiter,
)
from waiter_sdk.adapters.base import Adapter
from waiter_sdk.config import Settings
from waiter_sdk.events import MessageChain, Target
from waiter_sdk.testing import Simulator, SimulatorAdapter, VirtualClock


class Recording(Adapter):
    """Records starts and stops in a shared journal; fails to start when told to."""

    def __init__(self, name: str, journal: list[str], fail: bool = False) -> None:
        self.platform = name
        self.journal = journal
        self.fail = fail

    async def start(self, app: App) -> None:
        if self.fail:
            raise OSError(f"{self.platform} cannot bind")
        self.journal.append(f"start {self.platform}")

    async def stop(self) -> None:
        self.journal.append(f"stop {self.platform}")

    async def send(
        self, target: Target, chain: MessageChain, *, reply_to: str | None = None
    ) -> str:
        return "1"


class Tracked(Plugin):
    name = "tracked"

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal

    async def on_load(self) -> None:
        self.journal.append("load")

    async def on_unload(self) -> None:
        self.journal.append("unload")


async def test_a_failed_start_unwinds_what_did_start_in_reverse() -> None:
    journal: list[str] = []
    adapters = [
        Recording("one", journal),
        Recording("two", journal),
        Recording("three", journal, fail=True),
        Recording("four", journal),
    ]
    app = App(Settings.load(), plugins=[Tracked(journal)], adapters=adapters)
    with pytest.raises(OSError, match="three cannot bind"):
        await app.start()
    assert journal == ["load", "start one", "start two", "stop two", "stop one", "unload"]
    assert app.state == "stopped"
    await app.stop()  # stopping again does nothing
    assert journal[-1] == "unload" and journal.count("unload") == 1


async def test_stop_unwinds_in_reverse_of_start() -> None:
    journal: list[str] = []
    adapters = [Recording("one", journal), Recording("two", journal)]
    async with App(Settings.load(), plugins=[Tracked(journal)], adapters=adapters):
        pass
    assert journal == ["load", "start one", "start two", "stop two", "stop one", "unload"]


class Polite(Plugin):
    """Its waiters say goodbye when the app stops; one takes its time, one too long."""

    name = "polite"

    @command("wait")
    async def wait(self, event: MessageEvent) -> None:
        @session_waiter(timeout=3600)
        async def forever(controller: SessionController, reply: MessageEvent) -> None: ...

        try:
            await forever(event)
        except SessionClosedError:
            pause = float(event.args[0]) if event.args else 0.0
            await asyncio.sleep(pause)  # a real send takes more than three loop turns
            await event.send(f"bye after {pause:g} s")


async def test_openers_say_goodbye_within_the_grace_while_adapters_still_run() -> None:
    settings = Settings.load(session={"shutdown_grace": 2.0})
    sim = Simulator(plugins=[Polite], settings=settings)
    await sim.start()
    for n, pause in enumerate(("0", "1.5", "30")):
        await sim.send(sim.user(f"u{n}"), f"/wait {pause}")
    await sim.stop()
    # The first two said goodbye through the adapter; the third slept past the grace time
    # and was cancelled, not waited for half a minute.
    assert sorted(texts(sim.outbox)) == ["bye after 0 s", "bye after 1.5 s"]
    assert sim.time() == 2.0  # stopping waited exactly the grace, in virtual time
    assert sim.app.state == "stopped" and len(sim.app.bus.tasks) == 0


async def test_a_real_loop_stop_waits_only_for_openers() -> None:
    # No virtual clock: a handler sleeping unrelated to any session does not hold stop up.
    class Sleeper(Plugin):
        name = "sleeper"

        @command("sleep")
        async def sleep(self, event: MessageEvent) -> None:
            await asyncio.sleep(3600)

    adapter = SimulatorAdapter()
    app = App(Settings.load(), plugins=[Sleeper], adapters=[adapter])
    await app.start()
    clock = VirtualClock.install()  # only so that "no time passed" can be read exactly
    try:
        app.dispatch(_message(app, adapter, "/sleep"))
        await clock.settle()
        before = clock.time()
        await app.stop()
        assert clock.time() == before
    finally:
        clock.uninstall()


def _message(app: App, adapter: SimulatorAdapter, text: str) -> MessageEvent:
    return MessageEvent(
        platform=adapter.platform,
        self_id=adapter.self_id,
        message=MessageChain([text]),
        message_id="1",
        sender_id="u",
        adapter=adapter,
    )
