"""Plugins the reliability scenarios share."""

from __future__ import annotations

import asyncio

from waiter_sdk import (
    AdapterConnectionError,
    MessageEvent,
    Plugin,
    SessionController,
    command,
    session_waiter,
)


class Echo(Plugin):
    """``/echo`` opens a session that repeats each message; ``q`` ends it.

    A send that fails with ``AdapterConnectionError`` is recorded and the session goes on, as a
    waiter that wants to survive a platform outage would do. Tests await ``next_error()`` and
    ``next_outcome()`` instead of polling.
    """

    name = "echo_rel"

    def __init__(self) -> None:
        self.outcomes: list[str] = []
        self.send_errors: list[AdapterConnectionError] = []
        self._errors: asyncio.Queue[AdapterConnectionError] = asyncio.Queue()
        self._outcomes: asyncio.Queue[str] = asyncio.Queue()

    async def next_error(self) -> AdapterConnectionError:
        return await self._errors.get()

    async def next_outcome(self) -> str:
        return await self._outcomes.get()

    def _outcome(self, outcome: str) -> None:
        self.outcomes.append(outcome)
        self._outcomes.put_nowait(outcome)

    @command("echo")
    async def echo(self, event: MessageEvent) -> None:
        @session_waiter(timeout=60)
        async def repeat(controller: SessionController, reply: MessageEvent) -> None:
            if reply.message_str == "q":
                controller.stop()
                return
            try:
                await reply.send(f"echo {reply.message_str}")
            except AdapterConnectionError as exc:
                self.send_errors.append(exc)
                self._errors.put_nowait(exc)

        try:
            await repeat(event)
            self._outcome("returned")
        except Exception as exc:
            self._outcome(type(exc).__name__)
