"""``SessionController``: one open session, its mailbox, its deadline and its opener's future.

A session is a mailbox, a deadline and one future. The opener awaits the future. The session
owns its run state (``RunState``): idle (no call, no task), scheduled (an event waits for the
registry's ``Runner`` to start its call) or running (a call runs, in ``_task``); events arriving
while a call runs queue in the mailbox and run after it, one at a time, so an idle session owns
no task. The deadline is an entry in the registry's timer heap on the loop clock.

This module is the one owner of the run loop: the session's state and the ``Runner`` that steps
its calls live here together, so the two hot paths that must not pay a function call per message
(scheduling in ``_deliver``, stepping in ``Runner._run``) read fields of their own module only.

Every way of ending goes through ``_end``, which drops the timer entry, cancels the running call
when the end came from outside, resolves the future, has the registry drop its entries (only
if they still point here), and hands queued events back.

A front end that reads the session itself instead of having a waiter called (botoy's
``start_session``) plugs an ``Inbox`` in: routed events go to it, and it may take a passing
deadline as "this wait is over" rather than "the session is over". The seams between this
module, the registry and the fronts are written down in ``_seams.py``.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import math
import types
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, Literal

from loguru import logger

from .._tasks import TaskSet
from ..events import Component, MessageEvent, Plain
from ..exceptions import SessionClosedError, SessionTimeoutError
from ._context import current_session

if TYPE_CHECKING:
    from ..storage.store import WriteBack
    from ._seams import Host, Inbox
    from .filters import SessionFilter

__all__ = ["BusyPolicy", "EndReason", "RunState", "Runner", "SessionController", "WaiterCall"]

EndReason = Literal[
    "stopped", "exhausted", "timeout", "cancelled", "replaced", "error", "shutdown", "reloaded"
]
# A coroutine function: the runner steps the coroutine itself (see Runner).
WaiterCall = Callable[["SessionController", MessageEvent], Coroutine[Any, Any, object]]
BusyPolicy = Literal["queue", "drop"]

# Ends decided from outside the waiter: its running call is cancelled and may send nothing more.
_INTERRUPTING = frozenset({"timeout", "cancelled", "replaced", "shutdown", "reloaded"})


class RunState(enum.Enum):
    """Where a session's waiter calls stand (its end is ``controller.reason``, apart)."""

    IDLE = "idle"  # no call, no task: the next event starts one
    SCHEDULED = "scheduled"  # an event waits for the runner to start its call
    RUNNING = "running"  # a call runs, in the session's task; later events queue


IDLE, SCHEDULED, RUNNING = RunState.IDLE, RunState.SCHEDULED, RunState.RUNNING


class SessionController:
    """Controls one open session from inside its waiter: ``keep``, ``stop``, history.

    Usage, inside a waiter::

        controller.keep(30, reset_timeout=True)   # 30 s from now
        controller.stop()                          # the opener's call returns None
    """

    __slots__ = (
        "_call",
        "_dropped",
        "_first",
        "_follows",
        "_future",
        "_history",
        "_host",
        "_inbox",
        "_loop",
        "_mailbox",
        "_state",
        "_task",
        "_write_back",
        "busy",
        "deadline",
        "event",
        "extra_keys",
        "filter",
        "key",
        "max_queue",
        "opened_at",
        "opener",
        "plugin",
        "reason",
        "route_id",
        "seq",
        "timer_entry",
        "timer_when",
    )

    def __init__(
        self,
        host: Host,
        *,
        key: str,
        session_filter: SessionFilter,
        event: MessageEvent,
        call: WaiterCall | None,
        timeout: float,
        record_history: bool = False,
        busy: BusyPolicy = "queue",
        max_queue: int = 64,
        plugin: str = "",
        inbox: Inbox | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._host = host
        self._call = call
        self._inbox = inbox
        self._future: asyncio.Future[None] = loop.create_future()
        self._mailbox: list[MessageEvent] | None = None
        self._first: MessageEvent | None = None
        self._state = IDLE
        self._task: asyncio.Task[Any] | None = None
        self._history: list[tuple[Component, ...]] | None = [] if record_history else None
        self._dropped = 0
        # What the running waiter call observed (event.observe_user()): written back when the
        # call returns, before the next queued message starts its call.
        self._write_back: WriteBack | None = None
        self.key = key
        self.filter = session_filter
        self._follows = session_filter.follows_delivered  # read once per delivered message
        self.event = event
        self.plugin = plugin
        self.busy = busy
        self.max_queue = max_queue
        self.opened_at = loop.time()
        # math.inf: no deadline (a botoy session while no getter waits).
        self.deadline = self.opened_at + timeout
        self.reason: EndReason | None = None
        # Kept here for the registry, which alone reads and writes them (see _seams.Registered):
        # the opening order, the timer heap entry and the deadline it was pushed with, the raw
        # id of the routing pre-check, and the keys the session answers to besides its own.
        self.seq = 0
        self.opener: asyncio.Task[Any] | None = None  # the task that opened it
        self.timer_entry: list[Any] | None = None
        self.timer_when = math.inf  # the deadline its entry was pushed with; inf: none armed
        self.route_id: str | None = None
        self.extra_keys: list[str] | None = None

    # --- the public controller ------------------------------------------------------------

    @property
    def stopped(self) -> bool:
        """True once the session has ended, whatever the reason."""
        return self.reason is not None

    @property
    def remaining(self) -> float:
        """Seconds left until the deadline on the loop clock (0 once ended or past; ``inf``
        while the session has no deadline)."""
        if self.reason is not None:
            return 0.0
        return max(0.0, self.deadline - self._loop.time())

    @property
    def queued(self) -> int:
        """Events waiting behind the running waiter call."""
        return len(self._mailbox) if self._mailbox else 0

    @property
    def dropped(self) -> int:
        """Events this session turned away: ``busy="drop"``, or a full queue (``max_queue``)."""
        return self._dropped

    @property
    def busy_now(self) -> bool:
        """True while a waiter call runs or is about to start."""
        return self._state is not IDLE

    @property
    def history_length(self) -> int:
        return len(self._history) if self._history is not None else 0

    @property
    def error(self) -> BaseException | None:
        """What the opener's wait raises once the session has ended (``None``: still open, or
        ended without an error). A front that reads the session itself re-raises a
        ``SessionBusyError`` from it: with several workers a claim is refused after opening."""
        future = self._future
        if not future.done() or future.cancelled():
            return None
        return future.exception()

    @property
    def interrupted(self) -> bool:
        """True when the session was ended from outside; its waiter may send nothing more."""
        return self.reason in _INTERRUPTING

    def keep(self, timeout: float = 0, reset_timeout: bool = False) -> None:
        """Move the deadline.

        ``reset_timeout=True``: the deadline becomes now + ``timeout``. ``False``: ``timeout`` is
        added to the current deadline. Either way, a deadline that is not in the future ends the
        session normally at once (reason ``"exhausted"``; the opener's call returns ``None``).
        """
        if self.reason is not None:
            return
        now = self._loop.time()
        deadline = now + timeout if reset_timeout else self.deadline + timeout
        self.deadline = deadline
        if deadline <= now:
            self._end("exhausted")
            return
        # _set_deadline's test, here once per message: a later deadline touches nothing now.
        if deadline < self.timer_when:
            self._host.arm(self)
        changed = self._host.on_change  # None unless someone listens: one read, no call
        if changed is not None:
            changed(self)

    def stop(self, error: BaseException | None = None) -> None:
        """End the session now; the opener's call returns ``None``, or raises ``error``."""
        self._end("stopped", error)

    def get_history_chains(self) -> list[list[Component]]:
        """The delivered messages' components, oldest first (``[]`` unless recording)."""
        if self._history is None:
            return []
        return [list(chain) for chain in self._history]

    def redact_last(self, replacement: list[Component] | None = None) -> None:
        """Replace the newest history entry (a password, say) with ``replacement``.

        Default: a single ``Plain("******")``. Does nothing when not recording or empty.
        """
        if self._history:
            self._history[-1] = (
                tuple(replacement) if replacement is not None else (Plain("******"),)
            )

    def pass_on(self, event: MessageEvent) -> None:
        """Hand ``event`` to the plugin handlers as if this session had not taken it.

        For a waiter that sees something that is not for it (a command typed mid-game).
        It reaches the plugins ahead of anything queued behind it.
        """
        self._host.release([event])

    async def wait(self) -> None:
        """Wait until the session ends; see ``session_waiter`` for what is returned or raised.

        Cancelling the waiting task ends the session (reason ``"cancelled"``).
        """
        try:
            await self._future
        except asyncio.CancelledError:
            self._end("cancelled")
            raise

    # --- the deadline ---------------------------------------------------------------------

    def _set_deadline(self, deadline: float) -> None:
        """Move the deadline (``math.inf``: none), re-arming the registry's timer if need be."""
        self.deadline = deadline
        if deadline < self.timer_when:
            # Earlier than the armed entry (timer_when is inf when none is armed): arm now. A
            # later deadline needs nothing now; the entry re-arms itself when it comes due, so
            # a keep per message costs no heap churn.
            self._host.arm(self)
        changed = self._host.on_change
        if changed is not None and self.reason is None:
            changed(self)

    def _on_deadline(self, armed: float) -> None:
        """The timer entry armed for ``armed`` came due (the registry has already dropped it)."""
        if self.reason is not None:
            return
        if self.deadline > armed:
            self._host.arm(self)  # keep() moved it later meanwhile: wait for the new one
            return
        inbox = self._inbox
        if inbox is not None and inbox.expired():
            return  # the front end's wait is over, not the session
        self._end("timeout")

    # --- events in --------------------------------------------------------------------------

    def _deliver(self, event: MessageEvent) -> None:
        """Take an event routed to this session (called synchronously by dispatch)."""
        inbox = self._inbox
        if inbox is not None:
            inbox.put(event)
            return
        if self._state is IDLE:
            # The registry's runner starts the call; until then the session is "scheduled".
            self._first = event
            self._state = SCHEDULED
            runner = self._host.runner  # Runner.schedule, inlined: once per message
            runner._ready.append(self)
            if runner._task is None:
                runner._start()
        elif not self._enqueue(event):
            return
        if self._follows:
            self._follow(event)

    def _enqueue(self, event: MessageEvent) -> bool:
        """Queue ``event`` for later (the one rule of ``busy`` and ``max_queue``)."""
        if self.busy == "drop":
            self._dropped += 1
            logger.debug("session {} busy: dropped a message (busy='drop')", self.key)
            return False
        mailbox = self._mailbox
        if mailbox is None:
            mailbox = self._mailbox = []
        if len(mailbox) >= self.max_queue:
            self._dropped += 1
            logger.warning(
                "session {} (plugin {}) has {} queued messages: dropped one (max_queue)",
                self.key,
                self.plugin or "?",
                len(mailbox),
            )
            return False
        mailbox.append(event)
        return True

    def _take_queued(self, wanted: Callable[[MessageEvent], bool]) -> MessageEvent | None:
        """The oldest queued event that ``wanted`` accepts, out of the queue (for an inbox)."""
        mailbox = self._mailbox
        if mailbox:
            for n, event in enumerate(mailbox):
                if wanted(event):
                    return mailbox.pop(n)
        return None

    def _follow(self, event: MessageEvent) -> None:
        # A message this session took belongs to it: quoting it later reaches it too.
        key = self.filter.key_for_delivered(event)
        if key:
            self._host.add_key(self, key)

    # --- waiter calls, driven by the Runner below ---------------------------------------------

    def _begin(self, event: MessageEvent) -> Coroutine[Any, Any, object]:
        """The waiter call for ``event`` (not started), recorded in the history first."""
        if self._history is not None:
            self._history.append(tuple(event.message))
        assert self._call is not None
        return self._call(self, event)

    def _call_done(self) -> MessageEvent | None:
        """A call finished: the next queued event to run, or ``None`` (idle again)."""
        mailbox = self._mailbox
        if self.reason is None and mailbox:
            return mailbox.pop(0)
        self._state = IDLE
        self._task = None
        if mailbox is not None and not mailbox:
            self._mailbox = None
        return None

    def _call_failed(self, exc: BaseException) -> None:
        """A waiter call raised ``exc``: end the session by the rule for that exception."""
        self._state = IDLE
        self._task = None
        unit = self._write_back
        if unit is not None:
            self._write_back = None
            self._host.write_back(self, unit)
        if isinstance(exc, asyncio.CancelledError):
            if self.reason is None:  # cancelled from outside the session machinery
                self._end("cancelled")
        elif isinstance(exc, Exception):
            self._end("error", exc)

    async def _drive(self, call: Awaitable[object]) -> None:
        """Go on with a waiter call that waits, then run what queued behind it, one at a time.

        Runs in the task that the call found itself in (see ``Runner``).
        """
        try:
            while True:
                try:
                    await call
                    if self._write_back is not None:
                        await self._flush_observed()
                    event = self._call_done()
                    if event is None:
                        return
                    call = self._begin(event)
                except asyncio.CancelledError as exc:
                    from_outside = self.reason is None
                    self._call_failed(exc)
                    if from_outside:
                        raise
                    return
                except Exception as exc:
                    self._call_failed(exc)
                    return
        finally:
            self._state = IDLE
            self._task = None
            if self._mailbox is not None and not self._mailbox:
                self._mailbox = None

    async def _flush_observed(self) -> None:
        # The tail of a call that observed stored fields: its changes are written before the
        # session takes its next message, so that message's call loads them.
        unit, self._write_back = self._write_back, None
        if unit is None:
            return
        try:
            await unit.flush()
        except Exception as exc:
            self._host.report(exc, f"writing back the stored fields of session {self.key}")

    # --- the end --------------------------------------------------------------------------

    def _end(self, reason: EndReason, error: BaseException | None = None) -> None:
        if self.reason is not None:
            return
        self.reason = reason
        self._host.remove(self)
        leftover = self._mailbox
        self._mailbox = None
        if self._state is SCHEDULED:
            # Its first event never started: it counts as queued, and goes first (rule 8).
            first, self._first = self._first, None
            self._state = IDLE
            if first is not None:
                leftover = [first, *(leftover or ())]
        elif self._state is RUNNING and reason in _INTERRUPTING:
            task = self._task
            current = asyncio.current_task(self._loop) if self._loop.is_running() else None
            if task is not None and task is not current:
                task.cancel()
        future = self._future
        if not future.done():
            if error is not None:
                future.set_exception(error)
            elif reason == "timeout":
                future.set_exception(SessionTimeoutError(f"session {self.key} timed out"))
            elif reason in ("replaced", "shutdown", "reloaded"):
                closed = SessionClosedError(f"session {self.key} was {reason}")
                closed.reason = reason
                future.set_exception(closed)
            else:
                future.set_result(None)
            if not future.cancelled():
                # The opener may be gone (opened with .open() and never waited, or its task
                # crashed first, or a front end that never awaits it); the end is logged by
                # the registry, so asyncio need not warn "exception was never retrieved" too.
                future.exception()
        inbox = self._inbox
        if inbox is not None:
            inbox.closed()
        self._host.ended(self, leftover)

    def __repr__(self) -> str:
        state: str
        if self.reason is not None:
            state = self.reason
        elif math.isinf(self.deadline):
            state = "open, no deadline"
        else:
            state = f"open, {self.remaining:.1f}s left"
        return f"<SessionController {self.key} ({state})>"


@types.coroutine
def _resume(coro: Coroutine[Any, Any, object], pending: Any) -> Generator[Any, Any, None]:
    """Go on driving ``coro``, which has just yielded ``pending`` to whoever steps it.

    The task awaiting this generator receives ``pending`` exactly as if it had stepped ``coro``
    itself: a future (with its blocking flag still set) or ``None`` (a bare yield). Whatever the
    task sends or throws back goes to ``coro`` at the point where it stopped.
    """
    while True:
        try:
            yield pending
        except BaseException as exc:  # cancellation, or the awaited future's exception
            try:
                pending = coro.throw(exc)
            except StopIteration:
                return
            continue
        yield from coro  # resumes coro with send(None), as a task would
        return


class Runner:
    """Starts scheduled waiter calls in as few tasks as possible; one per registry.

    A message for an idle session schedules it here. One runner task then starts the scheduled
    calls one after another. A call that finishes without waiting (update some state, ``keep``,
    ``stop``) costs no task of its own. A call that does wait keeps the runner task: from then
    on that task belongs to that call (so ``asyncio.current_task()`` seen by the call, say by
    ``asyncio.timeout`` or aiohttp, is the task that goes on driving it), and a fresh runner
    takes over the rest of the queue, in order. This is Python 3.12's eager task start, done at
    the session layer so that it works on 3.11 and costs one task per burst, not per message.
    """

    __slots__ = ("_ready", "_task", "_tasks")

    def __init__(self, tasks: TaskSet) -> None:
        self._ready: deque[SessionController] = deque()
        self._task: asyncio.Task[None] | None = None
        self._tasks = tasks

    def schedule(self, session: SessionController) -> None:
        self._ready.append(session)
        if self._task is None:
            self._start()

    def _start(self) -> None:
        # A fresh context: the runner may be started from inside a handler (its gate opening
        # released a message), and a waiter call must not inherit that handler's scope.
        self._task = self._tasks.spawn(
            self._run(), context=contextvars.Context(), name="waiter-sdk-runner"
        )

    async def _run(self) -> None:
        me = asyncio.current_task()
        assert me is not None
        ready = self._ready
        try:
            while ready:
                session = ready.popleft()
                event = session._first
                if event is None or session._state is not SCHEDULED:
                    continue  # ended before it started; its event was handed back
                session._first = None
                session._state = RUNNING
                session._task = me
                call = session._call
                assert call is not None
                history = session._history
                token = current_session.set(session)
                try:
                    # The waiter coroutine itself is stepped here: no wrapper coroutine and no
                    # task per message. This is the once-per-message path, so it reads the
                    # session's fields (same module) where _drive calls _begin and _call_done.
                    while True:
                        if history is not None:
                            history.append(tuple(event.message))
                        coro = call(session, event)
                        try:
                            pending = coro.send(None)
                        except StopIteration:
                            if session._write_back is not None:
                                # What it observed is written first; if that waits, the
                                # write is this call's tail and the task goes on with it.
                                coro = session._flush_observed()
                                try:
                                    pending = coro.send(None)
                                except StopIteration:
                                    pass
                                else:
                                    break
                            mailbox = session._mailbox
                            if session.reason is None and mailbox:
                                event = mailbox.pop(0)
                                continue
                            session._state = IDLE
                            session._task = None
                            if mailbox is not None and not mailbox:
                                session._mailbox = None
                            event = None
                        except (Exception, asyncio.CancelledError) as exc:
                            session._call_failed(exc)
                            event = None
                        except BaseException as exc:
                            session._call_failed(exc)
                            raise
                        break
                finally:
                    current_session.reset(token)
                if event is None:
                    continue
                # It waits: this task is now that call's. Hand the queue to a new runner.
                self._task = None
                if ready:
                    self._start()
                current_session.set(session)
                await session._drive(_resume(coro, pending))
                return
        finally:
            if self._task is me:
                self._task = None
