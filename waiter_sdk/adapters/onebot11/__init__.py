"""The OneBot v11 adapter: QQ through NapCat, Lagrange.OneBot, LLOneBot or go-cqhttp.

Usage::

    from waiter_sdk import App
    from waiter_sdk.adapters.onebot11 import OneBot11Adapter

    App(plugins=["example_plugins"], adapters=[OneBot11Adapter()]).run()

Settings come from ``WAITER_ONEBOT11__*`` (see ``OneBot11Settings`` and
docs/adapters/onebot11.md). The names below are imported on first use: reading the settings
model (``.settings``) imports pydantic only, the adapter imports aiohttp, and ``import
waiter_sdk`` imports neither.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .adapter import OneBot11Adapter
    from .api import ActionsMixin, MessageLike
    from .bot import Bot
    from .events import GenericEvent, parse_event
    from .message import (
        cq_escape,
        cq_unescape,
        from_segments,
        image_from_bytes,
        parse_cq,
        parse_message,
        to_cq,
        to_segments,
    )
    from .settings import OneBot11Settings

__all__ = [
    "ActionsMixin",
    "Bot",
    "GenericEvent",
    "MessageLike",
    "OneBot11Adapter",
    "OneBot11Settings",
    "cq_escape",
    "cq_unescape",
    "from_segments",
    "image_from_bytes",
    "parse_cq",
    "parse_event",
    "parse_message",
    "to_cq",
    "to_segments",
]

_WHERE = {
    "ActionsMixin": "api",
    "Bot": "bot",
    "GenericEvent": "events",
    "MessageLike": "api",
    "OneBot11Adapter": "adapter",
    "OneBot11Settings": "settings",
    "cq_escape": "message",
    "cq_unescape": "message",
    "from_segments": "message",
    "image_from_bytes": "message",
    "parse_cq": "message",
    "parse_event": "events",
    "parse_message": "message",
    "to_cq": "message",
    "to_segments": "message",
}


__getattr__ = lazy_attributes(__name__, _WHERE)
