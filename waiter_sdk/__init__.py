"""waiter_sdk: write chat-bot plugins whose heart is multi-turn conversation.

Usage::

    from waiter_sdk import Plugin, command, session_waiter, SessionController, MessageEvent

Importing this package loads no adapter, web server or database code.
"""

from loguru import logger as _logger

from .app import App
from .events import (
    At,
    AtAll,
    Component,
    Event,
    Face,
    Image,
    MessageChain,
    MessageEvent,
    MessageEventResult,
    MetaEvent,
    NoticeEvent,
    Plain,
    Reply,
    RequestEvent,
    Segment,
    Target,
)
from .exceptions import (
    ActionFailedError,
    ActionTimeoutError,
    AdapterConnectionError,
    AdapterError,
    ConfigError,
    EventError,
    HandlerFinished,
    PluginError,
    SessionBusyError,
    SessionClosedError,
    SessionError,
    SessionTimeoutError,
    WaiterError,
)
from .plugins import Plugin, command, on_message, on_notice, on_request, regex
from .session import (
    GroupSessionFilter,
    ReplySessionFilter,
    SenderSessionFilter,
    SessionController,
    SessionFilter,
    UserSessionFilter,
    session_waiter,
)
from .session.botoy import start_session

# A library stays quiet until the application asks: the CLI (or the user) enables logging.
_logger.disable("waiter_sdk")

__version__ = "0.1.0"

__all__ = [
    "ActionFailedError",
    "ActionTimeoutError",
    "AdapterConnectionError",
    "AdapterError",
    "App",
    "At",
    "AtAll",
    "Component",
    "ConfigError",
    "Event",
    "EventError",
    "Face",
    "GroupSessionFilter",
    "HandlerFinished",
    "Image",
    "MessageChain",
    "MessageEvent",
    "MessageEventResult",
    "MetaEvent",
    "NoticeEvent",
    "Plain",
    "Plugin",
    "PluginError",
    "Reply",
    "ReplySessionFilter",
    "RequestEvent",
    "Segment",
    "SenderSessionFilter",
    "SessionBusyError",
    "SessionClosedError",
    "SessionController",
    "SessionError",
    "SessionFilter",
    "SessionTimeoutError",
    "Target",
    "UserSessionFilter",
    "WaiterError",
    "command",
    "on_message",
    "on_notice",
    "on_request",
    "regex",
    "session_waiter",
    "start_session",
]
