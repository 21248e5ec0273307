"""``app.sessions``: a live, read-only view of the open sessions, and closing one by key.

Usage::

    for info in app.sessions:
        print(info.key, info.plugin, info.deadline - info.opened_at)
    await app.sessions.close(key)     # the opener's call returns as after stop()
    await app.sessions.expire(key)    # its deadline fires now: the opener gets TimeoutError
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from dataclasses import dataclass

from .controller import SessionController
from .registry import SessionRegistry

__all__ = ["SessionInfo", "Sessions"]


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A snapshot of one open session.

    ``deadline`` (loop time) and ``remaining`` (seconds) are ``None`` while the session has no
    deadline: a botoy session between two questions, whose handler may take as long as it needs.
    """

    key: str
    plugin: str
    filter: str
    opened_at: float
    deadline: float | None
    remaining: float | None
    queued: int
    history_length: int
    busy: bool

    @classmethod
    def of(cls, session: SessionController) -> SessionInfo:
        timed = not math.isinf(session.deadline)
        return cls(
            key=session.key,
            plugin=session.plugin,
            filter=type(session.filter).__name__,
            opened_at=session.opened_at,
            deadline=session.deadline if timed else None,
            remaining=session.remaining if timed else None,
            queued=session.queued,
            history_length=session.history_length,
            busy=session.busy_now,
        )


class Sessions:
    """The open sessions of one app."""

    __slots__ = ("_registry",)

    def __init__(self, registry: SessionRegistry) -> None:
        self._registry = registry

    def __len__(self) -> int:
        return len(self._registry)

    def __iter__(self) -> Iterator[SessionInfo]:
        return iter(self.list())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._registry.get(key) is not None

    def list(self) -> list[SessionInfo]:
        """Snapshots of every open session, oldest first."""
        return [SessionInfo.of(s) for s in self._registry]

    def get(self, key: str) -> SessionInfo | None:
        session = self._registry.get(key)
        return SessionInfo.of(session) if session is not None else None

    @property
    def ended_counts(self) -> dict[str, int]:
        """How many sessions ended for each reason since the app started."""
        return dict(self._registry.ended_counts)

    async def close(self, key: str) -> bool:
        """End the session holding ``key`` (reason ``"cancelled"``); ``False`` if none does."""
        session = self._registry.get(key)
        if session is None:
            return False
        self._registry.cancel(session)
        await asyncio.sleep(0)  # let the opener and the cancelled call observe it
        return True

    async def expire(self, key: str) -> bool:
        """Fire the deadline of the session holding ``key`` now, as if it had come due.

        Usage: ``await app.sessions.expire(key)``, to try a plugin's timeout path without
        waiting for it. The opener of a ``session_waiter`` raises ``SessionTimeoutError``
        (reason ``"timeout"``); a botoy getter that waits returns ``(None, None)``, or its
        ``must_text`` ends the session with the finish info. ``False`` if no session holds
        ``key`` or it has no deadline right now (a botoy session between two questions).
        """
        session = self._registry.get(key)
        if session is None or not self._registry.expire(session):
            return False
        await asyncio.sleep(0)  # let the opener and the cancelled call observe it
        return True
