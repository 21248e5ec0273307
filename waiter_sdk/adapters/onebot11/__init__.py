"""The OneBot v11 adapter: QQ through NapCat, Lagrange.OneBot, LLOneBot or go-cqhttp.

Usage::

    from waiter_sdk import App
    from waiter_sdk.adapters.onebot11 import OneBot11Adapter

    App(plugins=["example_plugins"], adapters=[OneBot11Adapter()]).run()

Settings come from ``WAITER_ONEBOT11__*`` (see ``OneBot11Settings`` and
docs/adapters/onebot11.md). Importing this package imports aiohttp; ``import waiter_sdk`` does not.
"""

from ...config import OneBot11Settings
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
