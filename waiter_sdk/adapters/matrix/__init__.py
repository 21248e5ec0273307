"""The Matrix adapter: a bot account on any homeserver (Synapse, Conduit, Dendrite, ...).

Usage::

    from waiter_sdk import App
    from waiter_sdk.adapters.matrix import MatrixAdapter

    App(plugins=["example_plugins"], adapters=[MatrixAdapter()]).run()

Settings come from ``WAITER_MATRIX__*`` (see ``MatrixSettings`` and docs/adapters/matrix.md).
The names below are imported on first use: reading the settings model (``.settings``) imports
pydantic only, the adapter imports aiohttp, and ``import waiter_sdk`` imports neither.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .adapter import MatrixAdapter
    from .events import parse_message
    from .message import Read, addressed_text, pill, read_content, render
    from .rooms import Rooms
    from .settings import MatrixSettings
    from .sync import SyncReader

__all__ = [
    "MatrixAdapter",
    "MatrixSettings",
    "Read",
    "Rooms",
    "SyncReader",
    "addressed_text",
    "parse_message",
    "pill",
    "read_content",
    "render",
]

_WHERE = {
    "MatrixAdapter": "adapter",
    "MatrixSettings": "settings",
    "Read": "message",
    "Rooms": "rooms",
    "SyncReader": "sync",
    "addressed_text": "message",
    "parse_message": "events",
    "pill": "message",
    "read_content": "message",
    "render": "message",
}


__getattr__ = lazy_attributes(__name__, _WHERE)
