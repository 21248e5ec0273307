"""Sender gates: keep one sender's messages in the order they meant them.

Without this, ``/login`` followed at once by ``alice`` races: the second message is routed
before the ``/login`` handler has sent its prompt and opened its session, so it reaches the
plugins instead of the session. While the handlers of a sender's message run in a
conversation, that sender's next messages there that no open session takes wait at the gate;
it opens when those handlers finish, open a session, or after ``session.order_window``
seconds, and the held messages go on then, in order. Other senders and conversations never
wait.

A held message goes through the whole of dispatch again when its gate opens (exit words,
sessions, handlers), and keeps its place in arrival order meanwhile (a ``Place`` of the bus), so
that no handler sees it after a later message of someone else.

Every gate has the same window, so their deadlines come in the order the gates closed: one
queue and one loop timer serve them all, where a loop timer per gate cost a Python-compared
heap push and a cancellation for every handled message.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar

from ._bus import Place
from .events import MessageEvent
from .session.filters import SenderSessionFilter

__all__ = ["Gate", "Gates", "current_gate"]


class Gate:
    """Messages of one sender in one conversation held behind a running handler chain."""

    __slots__ = ("held", "key")

    def __init__(self, key: str) -> None:
        self.key = key
        # Each held message with its place in arrival order.
        self.held: list[tuple[MessageEvent, Place]] = []

    def hold(self, event: MessageEvent, place: Place) -> None:
        """Keep ``event`` (and its place) until the gate opens."""
        self.held.append((event, place))


current_gate: ContextVar[Gate | None] = ContextVar("waiter_sdk_current_gate", default=None)


_SENDER = SenderSessionFilter()


def gate_key(event: MessageEvent) -> str:
    # One sender in one conversation, escaped like a session key: ids holding "|" cannot make
    # another sender's key and hold their messages.
    return _SENDER.filter(event)


Resume = Callable[[MessageEvent, Place], None]


class Gates:
    """The closed gates of one app; ``resume(event, place)`` takes each held message on."""

    __slots__ = ("_due", "_loop", "_resume", "_timer", "closed", "window")

    def __init__(self, resume: Resume, window: float) -> None:
        self.closed: dict[str, Gate] = {}  # by gate key; empty (false) when none is closed
        self._resume = resume
        self.window = window
        # (when, gate) in closing order; an entry whose gate opened early is skipped when due.
        self._due: deque[tuple[float, Gate]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self.closed)

    def holds(self, event: MessageEvent) -> Gate | None:
        """The gate closed for ``event``'s sender in its conversation, if any."""
        if not self.closed:
            return None
        return self.closed.get(gate_key(event))

    def close(self, event: MessageEvent) -> Gate | None:
        """Close the gate for ``event``'s sender while its handlers run.

        None if gates are disabled, or if that sender's gate is closed already (a message a
        session handed back runs while it is): that gate keeps what it holds and opens when
        its own handlers let it, and this message's handlers run with no gate of their own.
        """
        if self.window <= 0:
            return None
        key = gate_key(event)
        if key in self.closed:
            return None
        gate = Gate(key)
        self.closed[key] = gate
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        when = loop.time() + self.window
        self._due.append((when, gate))
        if self._timer is None:
            self._timer = loop.call_at(when, self._expire)
        return gate

    def open(self, gate: Gate) -> None:
        """Open ``gate`` and route what it held (identity-checked, so only once)."""
        closed = self.closed
        if closed.get(gate.key) is not gate:
            return
        del closed[gate.key]
        if not closed:
            self._stop_timer()  # every queued entry is for a gate already open
        held, gate.held = gate.held, []
        for event, place in held:
            self._resume(event, place)

    def _expire(self) -> None:
        self._timer = None
        assert self._loop is not None
        due = self._due
        now = self._loop.time()
        # A timer may run up to the clock's resolution early: what it was armed for is due.
        limit = max(now, due[0][0]) if due else now
        while due and due[0][0] <= limit:
            _, gate = due.popleft()
            self.open(gate)  # may close new gates, which arm a timer for their own entry
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if due:
            self._timer = self._loop.call_at(due[0][0], self._expire)

    def _stop_timer(self) -> None:
        self._due.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def clear(self) -> int:
        """Drop every gate (app stop); returns how many held messages were dropped."""
        dropped = sum(len(gate.held) for gate in self.closed.values())
        self.closed.clear()
        self._stop_timer()
        return dropped
