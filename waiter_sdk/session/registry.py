"""``SessionRegistry``: which open session holds which key, and routing an event to one.

The registry is the only shared state of the session layer and sits behind a small interface
(``open`` / ``route`` / ``_remove``) so that a multi-process registry can replace it later.

Routing cost does not grow with the number of open sessions: the registry counts how many open
sessions use each distinct filter, computes one key per distinct filter for an event, and looks
each up in a dict. Before that, a message whose sender and group hold no session under the
built-in id filters is turned away by two dict lookups, without building any key: that is most
ordinary chat in a busy bot.

Deadlines live in one heap per registry with one loop timer at the earliest, instead of a loop
timer per session: heap entries compare as C lists, where the loop's own heap would compare
``TimerHandle`` objects in Python, and ``keep`` moving a deadline later touches nothing.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable, Iterator
from typing import Any, Literal

from loguru import logger

from ..events import MessageEvent
from ..exceptions import SessionBusyError
from ..tasks import TaskSet
from .controller import SessionController
from .filters import (
    GroupSessionFilter,
    ReplySessionFilter,
    SenderSessionFilter,
    SessionFilter,
    UserSessionFilter,
)
from .runner import Runner

__all__ = ["ConflictPolicy", "SessionRegistry"]

ConflictPolicy = Literal["busy", "replace"]
Release = Callable[[list[MessageEvent]], None]

# Compacting the heap once dead entries (ended sessions, moved deadlines) outnumber live ones
# bounds its memory; below this size they are left to come due.
_COMPACT_AT = 1024


class SessionRegistry:
    """Open sessions by key, and the distinct filters in use."""

    __slots__ = (
        "_by_key",
        "_custom",
        "_dead",
        "_filters",
        "_firing",
        "_heap",
        "_ids",
        "_loop",
        "_open",
        "_pushes",
        "_release",
        "_replies",
        "_seq",
        "_timer",
        "_timer_when",
        "default_max_queue",
        "ended_counts",
        "on_end",
        "on_error",
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
        self.on_error: Callable[[BaseException], None] | None = None
        self._by_key: dict[str, SessionController] = {}
        self._open: dict[str, SessionController] = {}  # primary keys only, opening order
        self._filters: dict[SessionFilter, int] = {}
        # The raw-id pre-check: ids held under the built-in id filters (with counts), and how
        # many sessions use a reply filter or any other filter, which the pre-check cannot judge.
        self._ids: dict[str, int] = {}
        self._replies = 0
        self._custom = 0
        self._release = release
        self._seq = 0
        self.ended_counts: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._heap: list[list[Any]] = []  # [deadline, push number, session or None once dead]
        self._pushes = 0
        self._dead = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
        self._firing = False

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
        self._count_route(session, 1)
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
        if not self._custom:
            ids = self._ids
            if (
                event.sender_id not in ids
                and (event.group_id is None or event.group_id not in ids)
                and (not self._replies or event.reply_to is None)
            ):
                return None
        best: SessionController | None = None
        by_key = self._by_key
        for flt in self._filters:
            try:
                key = flt.filter(event)
            except Exception as exc:
                logger.exception("session filter {!r} raised; skipped for this event", flt)
                if self.on_error is not None:
                    self.on_error(exc)
                continue
            if not key:
                continue
            found = by_key.get(key)
            if found is not None and (best is None or found.seq > best.seq):
                best = found
        return best

    def _count_route(self, session: SessionController, step: int) -> None:
        # A built-in id filter's key is made of the opening event's ids, so a later event can
        # only match it if it carries the same sender id (or group id): count those raw ids.
        flt = session.filter
        kind = type(flt)
        if step > 0:
            event = session.event
            route_id: str | None = None
            if kind is SenderSessionFilter or kind is UserSessionFilter:
                route_id = event.sender_id
            elif kind is GroupSessionFilter:
                route_id = event.group_id if event.group_id is not None else event.sender_id
            if route_id is not None and flt.filter(event) != session.key:
                route_id = None  # opened under a key of its own making: judge it the slow way
            session._route_id = route_id
        route_id = session._route_id
        if route_id is not None:
            count = self._ids.get(route_id, 0) + step
            if count:
                self._ids[route_id] = count
            else:
                del self._ids[route_id]
        elif kind is ReplySessionFilter:
            self._replies += step
        else:
            self._custom += step

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
            self._count_route(session, -1)
        self._disarm(session)
        if not self._open and self._heap:
            # Nothing is open: every entry left is dead. Drop them and the loop timer.
            self._heap.clear()
            self._dead = 0
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if session.sent_keys:
            for extra in session.sent_keys:
                if self._by_key.get(extra) is session:
                    del self._by_key[extra]
            session.sent_keys = None

    # --- deadlines ------------------------------------------------------------------------

    def _arm(self, session: SessionController) -> None:
        """Put ``session``'s deadline in the heap (replacing an entry it already has)."""
        self._disarm(session)
        deadline = session.deadline
        self._pushes += 1  # equal deadlines come due in the order they were set
        entry = [deadline, self._pushes, session]
        session._entry = entry
        session._timer_when = deadline
        heapq.heappush(self._heap, entry)
        if not self._firing and (self._timer is None or deadline < self._timer_when):
            self._schedule_timer(deadline)

    def _disarm(self, session: SessionController) -> None:
        entry = session._entry
        if entry is not None:
            entry[2] = None  # dead: it releases the session now and is skipped when it comes due
            session._entry = None
            self._dead += 1
            heap = self._heap
            if self._dead > _COMPACT_AT and self._dead * 2 > len(heap) and not self._firing:
                heap[:] = [e for e in heap if e[2] is not None]
                heapq.heapify(heap)
                self._dead = 0

    def _schedule_timer(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        self._timer_when = when
        self._timer = loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        assert self._loop is not None
        # The loop runs a timer up to its clock resolution early; what it judged due is due.
        now = max(self._loop.time(), self._timer_when)
        heap = self._heap
        self._firing = True
        try:
            while heap and heap[0][0] <= now:
                entry = heapq.heappop(heap)
                session: SessionController | None = entry[2]
                if session is None:
                    self._dead -= 1
                    continue
                session._entry = None
                session._on_deadline()
        finally:
            self._firing = False
            while heap and heap[0][2] is None:
                heapq.heappop(heap)
                self._dead -= 1
            if heap:
                self._schedule_timer(heap[0][0])

    def _ended(self, session: SessionController, leftover: list[MessageEvent] | None) -> None:
        reason = session.reason or "stopped"
        self.ended_counts[reason] = self.ended_counts.get(reason, 0) + 1
        if self.on_end is not None:
            self.on_end(session)
        if leftover:
            # Rule 8: what queued behind a running call goes on as if no session had existed.
            self._release(leftover)
