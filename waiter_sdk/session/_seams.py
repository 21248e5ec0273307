"""The seams of the session layer: what each of its parts may ask of the others, and nothing else.

Three parts share the work, each owning its own state:

- the **registry** (``registry.py``) owns which session holds which key, the distinct filters in
  use, the routing pre-check and the timer heap; it is the ``Host`` of every session;
- a **session** (``controller.SessionController``) owns its mailbox, its run state, its deadline,
  its history and its opener's future, and its module owns the ``Runner`` that steps waiter
  calls (one owner for the run loop); it is ``Registered`` with the registry;
- a **front** that reads a session itself (botoy's ``start_session``) is an ``Inbox`` plugged
  into one session, and sees its session as ``Fronted``.

A multi-process registry (Redis) implements ``Host`` and keeps ``Registered`` working; a new
front implements ``Inbox``. The members with a leading underscore below are internal to the
session layer: these protocols are the list of the ones another module of it may use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..events import MessageEvent
    from ..storage.store import WriteBack
    from .controller import EndReason, Runner, SessionController

__all__ = ["Fronted", "Host", "Inbox", "Registered"]


class Host(Protocol):
    """What a session asks of the registry that holds it (``registry.SessionRegistry``)."""

    #: Told when an open session's deadline moves (``keep``, a botoy getter's wait); ``None``
    #: while nobody listens, so that moving a deadline then costs one attribute read.
    on_change: Callable[[SessionController], None] | None

    @property
    def runner(self) -> Runner:
        """Starts the calls of busy sessions (``controller.Runner``, in the session's module)."""

    def arm(self, session: SessionController) -> None:
        """Put the session's deadline in the timer heap, or take it out if it is ``inf``."""

    def add_key(self, session: SessionController, key: str) -> None:
        """Also route ``key`` to the session (a message it sent or took)."""

    def remove(self, session: SessionController) -> None:
        """Drop every entry of the session, only where it still points at this session."""

    def ended(self, session: SessionController, leftover: list[MessageEvent] | None) -> None:
        """The session has ended: count it, tell the listeners, hand ``leftover`` back."""

    def release(self, events: list[MessageEvent]) -> None:
        """Hand ``events`` to the plugin handlers, in order, as if no session had existed."""

    def write_back(self, session: SessionController, unit: WriteBack) -> None:
        """Write back, in a tracked task, what a waiter call that failed had observed."""

    def report(self, exc: BaseException, doing: str) -> None:
        """Log a failure of the session layer that it survived, and tell ``on_error``."""


class Registered(Protocol):
    """What the registry asks of a session it holds (``SessionController``).

    Besides these methods, the registry alone reads and writes the session's ``seq``,
    ``opener``, ``timer_entry``, ``timer_when``, ``route_id`` and ``extra_keys``, kept on the
    session to spare a dict entry per session.
    """

    key: str
    deadline: float

    def _on_deadline(self, armed: float) -> None:
        """The session's timer entry, armed for ``armed``, came due (already dropped)."""

    def _end(self, reason: EndReason, error: BaseException | None = None) -> None:
        """End the session (replaced, cancelled, shut down) from outside."""

    def _deliver(self, event: MessageEvent) -> None:
        """Take an event that routing gave it."""


class Inbox(Protocol):
    """A front end plugged into one session in place of a waiter call (botoy's sessions).

    The session hands it every routed event and tells it when its deadline passes and when it
    ends. The front uses its session through ``Fronted``.
    """

    def put(self, event: MessageEvent) -> None:
        """An event routed to the session."""

    def expired(self) -> bool:
        """The deadline passed: True if this ends only the front's wait, not the session."""

    def closed(self) -> None:
        """The session has ended."""


class Fronted(Protocol):
    """What a front may ask of the session it is plugged into, besides the public controller
    (``pass_on``, ``stop``, ``key``, ``reason``): queueing by the session's one rule of ``busy``
    and ``max_queue``, and moving its deadline."""

    def _enqueue(self, event: MessageEvent) -> bool:
        """Queue ``event`` (False: dropped by ``busy="drop"`` or a full queue, and logged)."""

    def _take_queued(self, wanted: Callable[[MessageEvent], bool]) -> MessageEvent | None:
        """The oldest queued event that ``wanted`` accepts, taken out of the queue."""

    def _set_deadline(self, deadline: float) -> None:
        """Move the deadline (``math.inf``: none); the registry's timer follows."""

    def _end(self, reason: EndReason, error: BaseException | None = None) -> None:
        """End the session with ``reason`` (a ``must_*`` getter that timed out: ``"timeout"``)."""
