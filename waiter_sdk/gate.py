"""Sender gates: keep one sender's messages in the order they meant them.

Without this, ``/login`` followed at once by ``alice`` races: the second message is routed
before the ``/login`` handler has sent its prompt and opened its session, so it reaches the
plugins instead of the session. While the handlers of a sender's message run in a
conversation, that sender's next messages there wait at the gate; it opens when those handlers
finish, open a session, or after ``session.order_window`` seconds, and the held messages are
routed then, in order. Other senders and conversations never wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextvars import ContextVar

from .events import MessageEvent

__all__ = ["Gate", "Gates", "current_gate"]


class Gate:
    """Messages of one sender in one conversation held behind a running handler chain."""

    __slots__ = ("held", "key", "timer")

    def __init__(self, key: str) -> None:
        self.key = key
        self.held: list[MessageEvent] = []
        self.timer: asyncio.TimerHandle | None = None


current_gate: ContextVar[Gate | None] = ContextVar("waiter_sdk_current_gate", default=None)


def gate_key(event: MessageEvent) -> str:
    chat = event.group_id if event.group_id is not None else ""
    return f"{event.platform}|{event.self_id}|{chat}|{event.sender_id}"


class Gates:
    """The open gates of one app; ``route`` is called again for each released message."""

    __slots__ = ("_route", "closed", "window")

    def __init__(self, route: Callable[[MessageEvent], None], window: float) -> None:
        self.closed: dict[str, Gate] = {}  # by gate key; empty (false) when none is closed
        self._route = route
        self.window = window

    def __len__(self) -> int:
        return len(self.closed)

    def hold(self, event: MessageEvent) -> bool:
        """Hold ``event`` if its sender has a gate closed in its conversation."""
        if not self.closed:
            return False
        gate = self.closed.get(gate_key(event))
        if gate is None:
            return False
        gate.held.append(event)
        return True

    def close(self, event: MessageEvent) -> Gate | None:
        """Close the gate for ``event``'s sender while its handlers run (None if disabled)."""
        if self.window <= 0:
            return None
        gate = Gate(gate_key(event))
        self.closed[gate.key] = gate
        loop = asyncio.get_running_loop()
        gate.timer = loop.call_at(loop.time() + self.window, self.open, gate)
        return gate

    def open(self, gate: Gate) -> None:
        """Open ``gate`` and route what it held (identity-checked, so only once)."""
        if self.closed.get(gate.key) is not gate:
            return
        del self.closed[gate.key]
        if gate.timer is not None:
            gate.timer.cancel()
            gate.timer = None
        held, gate.held = gate.held, []
        for event in held:
            self._route(event)

    def clear(self) -> int:
        """Drop every gate (app stop); returns how many held messages were dropped."""
        dropped = 0
        for gate in self.closed.values():
            if gate.timer is not None:
                gate.timer.cancel()
            dropped += len(gate.held)
        self.closed.clear()
        return dropped
