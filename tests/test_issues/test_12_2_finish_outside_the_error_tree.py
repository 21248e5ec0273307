"""Issue 12.2: `except WaiterError:` or `except Exception:` in a plugin cannot stop a finish().

A botoy timeout in `must_text` raised `HandlerFinished`, a `WaiterError`: a handler that wrapped
the question in `except WaiterError:` caught it and kept talking after the session had ended.
Control flow now stands outside the error tree, like `asyncio.CancelledError`.
"""

from __future__ import annotations

import pytest

from tests.kit import texts
from waiter_sdk import HandlerFinished, MessageEvent, Plugin, WaiterError, command, start_session
from waiter_sdk.testing import Simulator


class Careful(Plugin):
    name = "careful"

    def __init__(self) -> None:
        self.went_on: list[str] = []

    @command("wide")
    async def wide(self, event: MessageEvent) -> None:
        ss = start_session()
        ss.set_finish_info("Too slow, bye")
        try:
            await ss.must_text("Name?", timeout=5)
        except WaiterError:
            self.went_on.append("caught as WaiterError")
        except Exception:
            self.went_on.append("caught as Exception")
        await event.send("still talking")

    @command("finish")
    async def finish(self, event: MessageEvent) -> None:
        ss = start_session()
        try:
            ss.finish("done")
        except Exception:
            self.went_on.append("finish caught")
        await event.send("still talking")


@pytest.mark.parametrize("command", ["/wide", "/finish"])
async def test_neither_waiter_error_nor_exception_stops_a_finish(command: str) -> None:
    plugin = Careful()
    async with Simulator(plugins=[plugin]) as sim:
        alice = sim.user("alice")
        out = texts(await sim.send(alice, command)) + texts(await sim.advance(5))
        assert "still talking" not in out
        assert out[-1] in ("Too slow, bye", "done")
        assert plugin.went_on == []
        assert len(sim.app.sessions) == 0


def test_handler_finished_is_control_flow_not_an_error() -> None:
    assert not issubclass(HandlerFinished, Exception)
    assert issubclass(HandlerFinished, BaseException)
