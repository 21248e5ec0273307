"""``SessionRegistry``: which open session holds which key, and routing an event to one.

The registry is the only shared state of the session layer and sits behind a small interface
(``open`` / ``route`` / ``_remove``) so that a multi-process registry can replace it later.

Routing cost does not grow with the number of open sessions: the registry counts how many open
sessions use each distinct filter, computes one key per distinct filter for an event, and looks
each up in a dict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal

from loguru import logger

from ..events import MessageEvent
from ..exceptions import SessionBusyError
from ..tasks import TaskSet
from .controller import SessionController
from .filters import SessionFilter
from .runner import Runner

__all__ = ["ConflictPolicy", "SessionRegistry"]

ConflictPolicy = Literal["busy", "replace"]
Release = Callable[[list[MessageEvent]], None]


class SessionRegistry:
    """Open sessions by key, and the distinct filters in use."""

    __slots__ = (
        "_by_key",
        "_filters",
        "_open",
        "_release",
        "_seq",
        "default_max_queue",
        "ended_counts",
        "on_end",
        "on_open",
        "runner",
        "tasks",
    )

    def __init__(self, release: Release, default_max_queue: int = 64) -> None:
        self.default_max_queue = default_max_queue
        self.tasks = TaskSet()  # runners and busy calls; an idle session owns no task
        self.runner = Runner(self.tasks)
        self.on_open: Callable[[SessionController], None] | None = None
        self.on_end: Callable[[SessionController], None] | None = None
        self._by_key: dict[str, SessionController] = {}
        self._open: dict[str, SessionController] = {}  # primary keys only, opening order
        self._filters: dict[SessionFilter, int] = {}
        self._release = release
        self._seq = 0
        self.ended_counts: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._open)

    def __iter__(self) -> Iterator[SessionController]:
        return iter(list(self._open.values()))

    def get(self, key: str) -> SessionController | None:
        return self._open.get(key)

    def open(self, session: SessionController, conflict: ConflictPolicy = "busy") -> None:
        """Register ``session`` under its key, or raise ``SessionBusyError`` if it is held."""
        held = self._by_key.get(session.key)
        if held is not None:
            if conflict != "replace":
                raise SessionBusyError(
                    f"session key {session.key} is already held by an open session "
                    f"(plugin {held.plugin or '?'}); pass conflict='replace' to take it over"
                )
            held._end("replaced")
        self._seq += 1
        session.seq = self._seq
        self._by_key[session.key] = session
        self._open[session.key] = session
        flt = session.filter
        self._filters[flt] = self._filters.get(flt, 0) + 1
        session._arm()
        if self.on_open is not None:
            self.on_open(session)

    def add_key(self, session: SessionController, key: str) -> None:
        """Also route ``key`` to ``session`` (reply sessions: one key per message they sent)."""
        if session.reason is not None:
            return
        held = self._by_key.get(key)
        if held is not None and held is not session:
            return  # another session already answers to that message; first one keeps it
        self._by_key[key] = session
        if session.sent_keys is None:
            session.sent_keys = [key]
        else:
            session.sent_keys.append(key)

    def route(self, event: MessageEvent) -> SessionController | None:
        """The most recently opened session whose key matches ``event``, if any."""
        if not self._by_key:
            return None
        best: SessionController | None = None
        by_key = self._by_key
        for flt in self._filters:
            try:
                key = flt.filter(event)
            except Exception:
                logger.exception("session filter {!r} raised; skipped for this event", flt)
                continue
            if not key:
                continue
            found = by_key.get(key)
            if found is not None and (best is None or found.seq > best.seq):
                best = found
        return best

    def _schedule(self, session: SessionController) -> None:
        self.runner.schedule(session)

    def _remove(self, session: SessionController) -> None:
        # Identity-checked: an older session ending late must not evict a newer one's entry.
        key = session.key
        if self._by_key.get(key) is session:
            del self._by_key[key]
        if self._open.get(key) is session:
            del self._open[key]
            flt = session.filter
            count = self._filters[flt] - 1
            if count:
                self._filters[flt] = count
            else:
                del self._filters[flt]
        if session.sent_keys:
            for extra in session.sent_keys:
                if self._by_key.get(extra) is session:
                    del self._by_key[extra]
            session.sent_keys = None

    def _ended(self, session: SessionController, leftover: list[MessageEvent] | None) -> None:
        reason = session.reason or "stopped"
        self.ended_counts[reason] = self.ended_counts.get(reason, 0) + 1
        logger.debug("session {} (plugin {}) ended: {}", session.key, session.plugin, reason)
        if self.on_end is not None:
            self.on_end(session)
        if leftover:
            # Rule 8: what queued behind a running call goes on as if no session had existed.
            self._release(leftover)
