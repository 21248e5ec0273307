"""``SessionController``: one open session, its mailbox, its deadline and its opener's future.

A session is a mailbox, a deadline and one future. The opener awaits the future. An event for an
idle session is handed to the registry's runner, which starts the waiter call at once; a call that
waits keeps a task, and events arriving meanwhile queue in the mailbox and run after it, one at a
time, so an idle session owns no task. The deadline is an entry in the registry's timer heap on
the loop clock. Every way of ending goes through ``_end``, which drops the timer entry, cancels
the running call when the end came from outside, resolves the future, removes the registry
entries (only if they still point here), and hands queued events back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Literal

from loguru import logger

from ..events import Component, MessageEvent, Plain
from ..exceptions import SessionClosedError, SessionTimeoutError

if TYPE_CHECKING:
    from .filters import SessionFilter
    from .registry import SessionRegistry

__all__ = ["EndReason", "SessionController", "WaiterCall"]

EndReason = Literal["stopped", "exhausted", "timeout", "cancelled", "replaced", "error", "shutdown"]
# A coroutine function: the runner steps the coroutine itself (see Runner).
WaiterCall = Callable[["SessionController", MessageEvent], Coroutine[Any, Any, None]]
BusyPolicy = Literal["queue", "drop"]

_SCHEDULED = object()

# Ends decided from outside the waiter: its running call is cancelled and may send nothing more.
_INTERRUPTING = frozenset({"timeout", "cancelled", "replaced", "shutdown"})


class SessionController:
    """Controls one open session from inside its waiter: ``keep``, ``stop``, history.

    Usage, inside a waiter::

        controller.keep(30, reset_timeout=True)   # 30 s from now
        controller.stop()                          # the opener's call returns None
    """

    __slots__ = (
        "_call",
        "_dropped",
        "_entry",
        "_first",
        "_future",
        "_history",
        "_loop",
        "_mailbox",
        "_pump",
        "_record",
        "_registry",
        "_route_id",
        "_timer_when",
        "busy",
        "deadline",
        "event",
        "filter",
        "key",
        "max_queue",
        "opened_at",
        "plugin",
        "reason",
        "sent_keys",
        "seq",
    )

    def __init__(
        self,
        registry: SessionRegistry,
        *,
        key: str,
        session_filter: SessionFilter,
        event: MessageEvent,
        call: WaiterCall,
        timeout: float,
        record_history: bool = False,
        busy: BusyPolicy = "queue",
        max_queue: int = 64,
        plugin: str = "",
    ) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._registry = registry
        self._call = call
        self._future: asyncio.Future[None] = loop.create_future()
        self._mailbox: list[MessageEvent] | None = None
        self._first: MessageEvent | None = None
        # None: idle (no task). _SCHEDULED: a runner will start the call. A task: running.
        self._pump: asyncio.Task[None] | object | None = None
        # The registry's timer heap entry [deadline, push number, self], and the deadline it was
        # pushed with; keep() moving the deadline later leaves both alone until the entry is due.
        self._entry: list[Any] | None = None
        self._timer_when = 0.0
        self._route_id: str | None = None  # the raw id the registry counts for this session
        self._record = record_history
        self._history: list[tuple[Component, ...]] | None = [] if record_history else None
        self._dropped = 0
        self.key = key
        self.filter = session_filter
        self.event = event
        self.plugin = plugin
        self.busy = busy
        self.max_queue = max_queue
        self.opened_at = loop.time()
        self.deadline = self.opened_at + timeout
        self.reason: EndReason | None = None
        self.seq = 0
        self.sent_keys: list[str] | None = None

    # --- the public controller ------------------------------------------------------------

    @property
    def stopped(self) -> bool:
        """True once the session has ended, whatever the reason."""
        return self.reason is not None

    @property
    def remaining(self) -> float:
        """Seconds left until the deadline on the loop clock (0 once ended or past)."""
        if self.reason is not None:
            return 0.0
        return max(0.0, self.deadline - self._loop.time())

    @property
    def queued(self) -> int:
        """Events waiting behind the running waiter call."""
        return len(self._mailbox) if self._mailbox else 0

    @property
    def history_length(self) -> int:
        return len(self._history) if self._history is not None else 0

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
        if deadline < self._timer_when:
            # Earlier than the armed timer: re-arm. A later deadline needs nothing now; the
            # timer re-arms itself when it fires, so a keep per message costs no heap churn.
            self._arm()

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
        self._registry._release([event])

    async def wait(self) -> None:
        """Wait until the session ends; see ``session_waiter`` for what is returned or raised.

        Cancelling the waiting task ends the session (reason ``"cancelled"``).
        """
        try:
            await self._future
        except asyncio.CancelledError:
            self._end("cancelled")
            raise

    # --- lifecycle, driven by the registry and the waiter ---------------------------------

    def _arm(self) -> None:
        self._registry._arm(self)

    def _on_deadline(self) -> None:
        """The timer entry came due (called by the registry, which has already dropped it)."""
        if self.reason is not None:
            return
        if self.deadline > self._timer_when:
            self._arm()
        else:
            self._end("timeout")

    def _deliver(self, event: MessageEvent) -> None:
        """Take an event routed to this session (called synchronously by dispatch)."""
        if self._pump is None:
            # Idle: the registry's runner starts the call; until then it is "scheduled".
            self._first = event
            self._pump = _SCHEDULED
            runner = self._registry.runner  # Runner.schedule(), inlined: once per message
            runner._ready.append(self)
            if runner._task is None:
                runner._start()
        else:
            if self.busy == "drop":
                self._dropped += 1
                logger.debug("session {} busy: dropped a message (busy='drop')", self.key)
                return
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
                return
            mailbox.append(event)
        if self.filter.follows_delivered:
            self._follow(event)

    def _follow(self, event: MessageEvent) -> None:
        # A message this session took belongs to it: quoting it later reaches it too.
        key = self.filter.key_for_delivered(event)
        if key:
            self._registry.add_key(self, key)

    def _begin(self, event: MessageEvent) -> Coroutine[Any, Any, None]:
        """The waiter call for ``event`` (not started), recorded in the history first."""
        if self._history is not None:
            self._history.append(tuple(event.message))
        return self._call(self, event)

    def _next_queued(self) -> MessageEvent | None:
        """The next queued event to run, or ``None``: then the session is idle again."""
        mailbox = self._mailbox
        if self.reason is None and mailbox:
            return mailbox.pop(0)
        self._pump = None
        if mailbox is not None and not mailbox:
            self._mailbox = None
        return None

    def _call_failed(self, exc: BaseException) -> None:
        """A waiter call raised ``exc``: end the session by the rule for that exception."""
        self._pump = None
        if isinstance(exc, asyncio.CancelledError):
            if self.reason is None:  # cancelled from outside the session machinery
                self._end("cancelled")
        elif isinstance(exc, Exception):
            self._end("error", exc)

    async def _drive(self, call: Awaitable[None]) -> None:
        """Go on with a waiter call that waits, then run what queued behind it, one at a time.

        Runs in the task that the call found itself in (see ``Runner``).
        """
        try:
            while True:
                try:
                    await call
                    event = self._next_queued()
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
            self._pump = None
            if self._mailbox is not None and not self._mailbox:
                self._mailbox = None

    def _end(self, reason: EndReason, error: BaseException | None = None) -> None:
        if self.reason is not None:
            return
        self.reason = reason
        self._registry._remove(self)
        pump = self._pump
        leftover = self._mailbox
        self._mailbox = None
        if pump is _SCHEDULED:
            # Its first event never started: it counts as queued, and goes first (rule 8).
            first, self._first = self._first, None
            self._pump = None
            if first is not None:
                leftover = [first, *(leftover or ())]
        elif isinstance(pump, asyncio.Task) and reason in _INTERRUPTING:
            current = asyncio.current_task(self._loop) if self._loop.is_running() else None
            if pump is not current:
                pump.cancel()
        future = self._future
        if not future.done():
            if error is not None:
                future.set_exception(error)
            elif reason == "timeout":
                future.set_exception(SessionTimeoutError(f"session {self.key} timed out"))
            elif reason in ("replaced", "shutdown"):
                future.set_exception(SessionClosedError(f"session {self.key} was {reason}"))
            else:
                future.set_result(None)
            if future.done() and not future.cancelled():
                # The opener may be gone (opened with .open() and never waited, or its task
                # crashed first); the end is logged by the registry, so asyncio need not warn
                # "exception was never retrieved" at garbage collection as well.
                future.exception()
        self._registry._ended(self, leftover)

    @property
    def interrupted(self) -> bool:
        """True when the session was ended from outside; its waiter may send nothing more."""
        return self.reason in _INTERRUPTING

    def __repr__(self) -> str:
        state = self.reason or f"open, {self.remaining:.1f}s left"
        return f"<SessionController {self.key} ({state})>"
