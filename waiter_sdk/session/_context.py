"""Context variables that tie a send to the handler run or the session it happens in.

They exist so that ``event.send`` needs no extra arguments: the app reads them to refuse sends
from a session that has timed out, and to teach ``ReplySessionFilter`` sessions which messages
they sent.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..events import Event
    from ..storage.store import WriteBack
    from .controller import SessionController

__all__ = ["HandlerScope", "current_scope", "current_session"]


class HandlerScope:
    """One run of one plugin's handler for one event, and the ids of the messages it sent."""

    __slots__ = (
        "chain",
        "cleanups",
        "ended",
        "event",
        "handed_off",
        "handler",
        "index",
        "plugin",
        "sent",
        "write_back",
    )

    def __init__(
        self,
        plugin: str = "",
        handler: str = "",
        event: Event | None = None,
        chain: Any = None,
        index: int = 0,
    ) -> None:
        self.plugin = plugin
        self.handler = handler
        # The event being handled, so helpers such as start_session() need no event argument.
        self.event = event
        self.sent: list[str] = []
        # Run by the bus when the handler returns or raises: ends what it opened and left open.
        self.cleanups: list[Callable[[], None]] = []
        # Where this handler stands in its event's chain of handlers (the bus's own record),
        # and whether the rest of that chain went on without it (it opened a session).
        self.chain = chain
        self.index = index
        self.handed_off = False
        # What event.observe_user() / observe_channel() loaded in this run: the bus writes the
        # changes back when the handler returns (storage.store.WriteBack).
        self.write_back: WriteBack | None = None
        # Set by the bus when the handler has returned: a task it left running can no longer
        # observe stored fields (nothing would write them back).
        self.ended = False


current_session: ContextVar[SessionController | None] = ContextVar(
    "waiter_sdk_current_session", default=None
)
current_scope: ContextVar[HandlerScope | None] = ContextVar(
    "waiter_sdk_current_scope", default=None
)
