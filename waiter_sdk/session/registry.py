"""``SessionRegistry``: which open session holds which key, and routing an event to one.

The registry is the only shared state of the session layer. Sessions reach it only through the
``Host`` seam (``_seams.py``), so that a multi-process registry can replace it later.

Routing cost does not grow with the number of open sessions: the registry counts how many open
sessions use each distinct filter, computes one key per distinct filter for an event, and looks
each up in a dict. Before that, a message whose sender and group hold no session is turned away
by two dict lookups, without building any key: that is most ordinary chat in a busy bot. It
works for every filter that names a ``route_id`` (the built-in ones, botoy's, and subclasses that
keep their ``filter``); while a session of any other filter is open it is off, and a debug line
says so once per filter class.

Deadlines live in one heap per registry with one loop timer at the earliest, instead of a loop
timer per session: heap entries compare as C lists, where the loop's own heap would compare
``TimerHandle`` objects in Python, and ``keep`` moving a deadline later touches nothing.
"""

from __future__ import annotations

import asyncio
import heapq
import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

from loguru import logger

from .._tasks import TaskSet
from ..events import MessageEvent
from ..exceptions import SessionBusyError
from .controller import EndReason, Runner, SessionController
from .filters import ReplySessionFilter, SessionFilter

if TYPE_CHECKING:
    from ..storage.store import WriteBack

__all__ = ["ConflictPolicy", "SessionRegistry"]

ConflictPolicy = Literal["busy", "replace"]
Release = Callable[[list[MessageEvent]], None]

# Compacting the heap once dead entries (ended sessions, moved deadlines) outnumber live ones
# bounds its memory; below this size they are left to come due.
_COMPACT_AT = 1024


class SessionRegistry:
    """Open sessions by key, the distinct filters in use, and their deadlines (their ``Host``)."""

    __slots__ = (
        "_by_key",
        "_custom",
        "_dead",
        "_filters",
        "_firing",
        "_heap",
        "_ids",
        "_loop",
        "_multi",
        "_open",
        "_pushes",
        "_release",
        "_replies",
        "_seq",
        "_timer",
        "_timer_when",
        "_unrouted",
        "default_max_queue",
        "ended_counts",
        "on_change",
        "on_end",
        "on_error",
        "on_open",
        "runner",
        "tasks",
    )

    def __init__(self, release: Release, default_max_queue: int = 64) -> None:
        self.default_max_queue = default_max_queue
        self.tasks = TaskSet()  # runners and busy calls; an idle session owns no task
        self.runner = Runner(self.tasks)  # Host.runner: starts the calls of busy sessions
        self.on_open: Callable[[SessionController], None] | None = None
        self.on_end: Callable[[SessionController], None] | None = None
        # A session's deadline moved (keep, a botoy getter's wait): set only while someone
        # listens (App.listen("session_changed")), so the hot path pays one read otherwise.
        self.on_change: Callable[[SessionController], None] | None = None
        self.on_error: Callable[[BaseException], None] | None = None
        self._by_key: dict[str, SessionController] = {}
        self._open: dict[str, SessionController] = {}  # primary keys only, opening order
        # Distinct filters in use, with how many open sessions use each; those that give several
        # keys per event (SessionFilter.keys) apart, so the common loop stays one call each.
        self._filters: dict[SessionFilter, int] = {}
        self._multi: dict[SessionFilter, int] = {}
        # The raw-id pre-check: ids that open sessions' events must carry (with counts), and how
        # many sessions use a reply filter or a filter with no route id, which it cannot judge.
        self._ids: dict[str, int] = {}
        self._replies = 0
        self._custom = 0
        self._unrouted: set[type[SessionFilter]] = set()  # filter classes already logged
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

    def holds(self, key: str) -> bool:
        """True if some open session answers to ``key`` (its own or an extra one)."""
        return key in self._by_key

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
        session.opener = asyncio.current_task()
        self._by_key[session.key] = session
        self._open[session.key] = session
        flt = session.filter
        counts = self._multi if type(flt).keys is not SessionFilter.keys else self._filters
        counts[flt] = counts.get(flt, 0) + 1
        self._count_route(session, 1)
        self.arm(session)
        if flt.follows_delivered:
            # A filter that follows every message of its session: the opening one is too.
            key = flt.key_for_delivered(session.event)
            if key:
                self.add_key(session, key)
        if self.on_open is not None:
            self.on_open(session)

    def add_key(self, session: SessionController, key: str) -> None:
        """Also route ``key`` to ``session`` (a message it sent or took, a botoy private chat)."""
        if session.reason is not None:
            return
        held = self._by_key.get(key)
        if held is not None and held is not session:
            return  # another session already answers to that message; first one keeps it
        self._by_key[key] = session
        if session.extra_keys is None:
            session.extra_keys = [key]
        elif key not in session.extra_keys:
            session.extra_keys.append(key)

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
                self._filter_failed(flt, exc)
                continue
            if not key:
                continue
            found = by_key.get(key)
            if found is not None and (best is None or found.seq > best.seq):
                best = found
        for flt in self._multi:
            try:
                keys = flt.keys(event)
            except Exception as exc:
                self._filter_failed(flt, exc)
                continue
            for key in keys:  # in the filter's order of preference: the first held wins
                found = by_key.get(key)
                if found is not None:
                    if best is None or found.seq > best.seq:
                        best = found
                    break
        return best

    def take(self, event: MessageEvent) -> bool:
        """Hand ``event`` to the session it belongs to (rule 11); False if none takes it."""
        session = self.route(event)
        if session is None:
            return False
        session._deliver(event)
        return True

    def cancel(self, session: SessionController) -> None:
        """End ``session`` as cancelled (an exit word, ``app.sessions.close``)."""
        session._end("cancelled")

    def expire(self, session: SessionController) -> bool:
        """Fire ``session``'s deadline now, as its timer would (``app.sessions.expire``).

        The same path as a real deadline: a waiter session ends as ``"timeout"`` (its opener
        raises ``SessionTimeoutError``), a botoy getter's wait ends as on its timeout. False if
        the session has no deadline to fire (a botoy session between two questions).
        """
        if session.reason is not None or math.isinf(session.deadline):
            return False
        self._disarm(session)
        session._on_deadline(session.deadline)
        return True

    def end_all(self, plugin: str, reason: EndReason) -> int:
        """End every open session of ``plugin`` with ``reason`` (a reload); how many ended."""
        ended = 0
        for session in list(self._open.values()):
            if session.plugin == plugin and session.reason is None:
                session._end(reason)
                ended += 1
        return ended

    def shutdown(self) -> list[asyncio.Task[Any]]:
        """End every open session (the app stops): their openers raise SessionClosedError.

        Returns the tasks that opened them, which the app gives a moment to say goodbye.
        """
        openers: list[asyncio.Task[Any]] = []
        for session in list(self._open.values()):
            if session.opener is not None:
                openers.append(session.opener)
            session._end("shutdown")
        return openers

    def release(self, events: list[MessageEvent]) -> None:
        """Hand ``events`` to the plugin handlers, in order (rule 8; ``pass_on``)."""
        self._release(events)

    def write_back(self, session: SessionController, unit: WriteBack) -> None:
        """What a failed waiter call observed is written back beside its session's end."""
        self.tasks.spawn(self._write_back(session, unit), name="waiter-sdk-write-back")

    async def _write_back(self, session: SessionController, unit: WriteBack) -> None:
        try:
            await unit.flush()
        except Exception as exc:
            self.report(exc, f"writing back the stored fields of session {session.key}")

    def report(self, exc: BaseException, doing: str) -> None:
        logger.opt(exception=exc).error("{} failed", doing)
        if self.on_error is not None:
            self.on_error(exc)

    def _filter_failed(self, flt: SessionFilter, exc: Exception) -> None:
        logger.opt(exception=exc).error("session filter {!r} raised; skipped for this event", flt)
        if self.on_error is not None:
            self.on_error(exc)

    def _count_route(self, session: SessionController, step: int) -> None:
        # The pre-check in route(): a filter that names an id every event of this session
        # carries (its sender or group id) lets most chat skip key building.
        flt = session.filter
        if step > 0:
            route_id = flt.route_id(session.key)
            if route_id is not None:
                # Decoded from the key, it is a new string: keep the event's own instead when it
                # is the same id, so that 100,000 idle sessions do not each hold a copy.
                event = session.event
                if route_id == event.sender_id:
                    route_id = event.sender_id
                elif route_id == event.group_id:
                    route_id = event.group_id
            session.route_id = route_id
        route_id = session.route_id
        if route_id is not None:
            count = self._ids.get(route_id, 0) + step
            if count:
                self._ids[route_id] = count
            else:
                del self._ids[route_id]
        elif isinstance(flt, ReplySessionFilter) and type(flt).filter is ReplySessionFilter.filter:
            self._replies += step
        else:
            self._custom += step
            kind = type(flt)
            if step > 0 and kind not in self._unrouted:
                self._unrouted.add(kind)
                logger.debug(
                    "{} gives no route_id: while its sessions are open, every message builds "
                    "its keys (override SessionFilter.route_id to spare that)",
                    kind.__qualname__,
                )

    def remove(self, session: SessionController) -> None:
        """Drop ``session``'s entries, identity-checked: an older session ending late must not
        evict a newer one's."""
        key = session.key
        if self._by_key.get(key) is session:
            del self._by_key[key]
        if self._open.get(key) is session:
            del self._open[key]
            flt = session.filter
            counts = self._multi if flt in self._multi else self._filters
            count = counts[flt] - 1
            if count:
                counts[flt] = count
            else:
                del counts[flt]
            self._count_route(session, -1)
        self._disarm(session)
        if not self._open and self._heap:
            # Nothing is open: every entry left is dead. Drop them and the loop timer.
            self._heap.clear()
            self._dead = 0
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        extra = session.extra_keys
        if extra:
            for key in extra:
                if self._by_key.get(key) is session:
                    del self._by_key[key]
            session.extra_keys = None

    # --- deadlines ------------------------------------------------------------------------

    def arm(self, session: SessionController) -> None:
        """Put ``session``'s deadline in the heap, replacing its entry; none for ``inf``."""
        self._disarm(session)
        deadline = session.deadline
        session.timer_when = deadline
        if deadline == math.inf:
            return  # no deadline (a botoy session between two questions)
        self._pushes += 1  # equal deadlines come due in the order they were set
        entry = [deadline, self._pushes, session]
        session.timer_entry = entry
        heapq.heappush(self._heap, entry)
        if not self._firing and (self._timer is None or deadline < self._timer_when):
            self._schedule_timer(deadline)

    def _disarm(self, session: SessionController) -> None:
        entry = session.timer_entry
        if entry is not None:
            entry[2] = None  # dead: it releases the session now and is skipped when it comes due
            session.timer_entry = None
            session.timer_when = math.inf
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
                session.timer_entry = None
                session.timer_when = math.inf
                session._on_deadline(entry[0])
        finally:
            self._firing = False
            while heap and heap[0][2] is None:
                heapq.heappop(heap)
                self._dead -= 1
            if heap:
                self._schedule_timer(heap[0][0])

    def ended(self, session: SessionController, leftover: list[MessageEvent] | None) -> None:
        """``session`` has ended: count its reason, tell ``on_end``, hand ``leftover`` back."""
        reason = session.reason or "stopped"
        self.ended_counts[reason] = self.ended_counts.get(reason, 0) + 1
        if self.on_end is not None:
            self.on_end(session)
        if leftover:
            # Rule 8: what queued behind a running call goes on as if no session had existed.
            self._release(leftover)
