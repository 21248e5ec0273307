"""Context variables that tie a send to the handler run or the session it happens in.

They exist so that ``event.send`` needs no extra arguments: the app reads them to refuse sends
from a session that has timed out, and to teach ``ReplySessionFilter`` sessions which messages
they sent.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..events import Event
    from .controller import SessionController

__all__ = ["HandlerScope", "current_scope", "current_session"]


class HandlerScope:
    """One run of one plugin's handler for one event, and the ids of the messages it sent."""

    __slots__ = ("cleanups", "event", "handler", "plugin", "sent")

    def __init__(self, plugin: str = "", handler: str = "", event: Event | None = None) -> None:
        self.plugin = plugin
        self.handler = handler
        # The event being handled, so helpers such as start_session() need no event argument.
        self.event = event
        self.sent: list[str] = []
        # Run by the bus when the handler returns or raises: ends what it opened and left open.
        self.cleanups: list[Callable[[], None]] = []


current_session: ContextVar[SessionController | None] = ContextVar(
    "waiter_sdk_current_session", default=None
)
current_scope: ContextVar[HandlerScope | None] = ContextVar(
    "waiter_sdk_current_scope", default=None
)
