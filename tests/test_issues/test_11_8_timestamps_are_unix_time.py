"""Issue 11.8: an event's `timestamp` is Unix time on every platform.

The sandbox and the console stamped `loop.time()` (seconds since the machine booted) and the
Simulator its virtual clock, while OneBot gave Unix time: a plugin that printed the date of a
message got 1970 everywhere but on OneBot. The Simulator stamps `sim.epoch + sim.time()`, so
tests read the same dates on every machine; the adapters read the wall clock, patched here.
"""

from __future__ import annotations

import io

import pytest

from waiter_sdk import App, MessageEvent, Plugin, on_message
from waiter_sdk.adapters import console as console_module
from waiter_sdk.adapters.console import ConsoleAdapter
from waiter_sdk.config import Settings
from waiter_sdk.testing import EPOCH, Simulator, VirtualClock

WALL = 1_800_000_000.5  # what the patched wall clock says


class Stamps(Plugin):
    name = "stamps"

    def __init__(self) -> None:
        self.seen: list[float] = []

    @on_message()
    async def stamp(self, event: MessageEvent) -> None:
        self.seen.append(event.timestamp)


async def test_the_simulator_stamps_its_epoch_plus_virtual_time() -> None:
    assert EPOCH == 1_767_225_600.0  # 2026-01-01T00:00:00Z
    plugin = Stamps()
    async with Simulator(plugins=[plugin]) as sim:
        await sim.send(sim.user("a"), "now")
        await sim.advance(90)
        await sim.send(sim.user("a"), "later")
        assert sim.epoch == EPOCH
    assert plugin.seen == [EPOCH, EPOCH + 90]


async def test_the_console_stamps_unix_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_module, "unix_time", lambda: WALL)
    plugin = Stamps()
    console = ConsoleAdapter(stdin=io.StringIO(""), stdout=io.StringIO())
    clock = VirtualClock.install()
    try:
        app = App(settings=Settings.load(), plugins=[plugin], adapters=[console])
        await app.start()
        console.feed("hello")
        await clock.settle()
        await app.stop()
    finally:
        clock.uninstall()
    assert plugin.seen == [WALL]


# The sandbox's stamp is checked with every other field of its events, in
# tests/sandbox/test_server.py::test_a_typed_message_becomes_an_event_with_every_field.
