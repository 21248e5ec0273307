"""The Satori adapter: any platform behind a Satori server (Koishi's server plugin, satori-python).

Usage::

    from waiter_sdk import App
    from waiter_sdk.adapters.satori import SatoriAdapter

    App(plugins=["example_plugins"], adapters=[SatoriAdapter()]).run()

Settings come from ``WAITER_SATORI__*`` (see ``SatoriSettings`` and docs/adapters/satori.md).
The names below are imported on first use: reading the settings model (``.settings``) imports
pydantic only, the adapter imports aiohttp, and ``import waiter_sdk`` imports neither.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .adapter import Login, SatoriAdapter
    from .elements import Element, parse, render
    from .events import parse_event, self_id_of, split_self_id
    from .message import chain_text, from_content, to_content
    from .settings import SatoriSettings

__all__ = [
    "Element",
    "Login",
    "SatoriAdapter",
    "SatoriSettings",
    "chain_text",
    "from_content",
    "parse",
    "parse_event",
    "render",
    "self_id_of",
    "split_self_id",
    "to_content",
]

_WHERE = {
    "Element": "elements",
    "Login": "adapter",
    "SatoriAdapter": "adapter",
    "SatoriSettings": "settings",
    "chain_text": "message",
    "from_content": "message",
    "parse": "elements",
    "parse_event": "events",
    "render": "elements",
    "self_id_of": "events",
    "split_self_id": "events",
    "to_content": "message",
}


__getattr__ = lazy_attributes(__name__, _WHERE)
