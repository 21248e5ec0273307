"""Sessions: multi-turn conversations routed by filters, sharing one timer, with no idle task."""

from .controller import EndReason, SessionController
from .filters import (
    GroupSessionFilter,
    ReplySessionFilter,
    SenderSessionFilter,
    SessionFilter,
    UserSessionFilter,
)
from .manager import SessionInfo, Sessions
from .registry import SessionRegistry
from .waiter import SessionWaiter, session_waiter

__all__ = [
    "EndReason",
    "GroupSessionFilter",
    "ReplySessionFilter",
    "SenderSessionFilter",
    "SessionController",
    "SessionFilter",
    "SessionInfo",
    "SessionRegistry",
    "SessionWaiter",
    "Sessions",
    "UserSessionFilter",
    "session_waiter",
]
