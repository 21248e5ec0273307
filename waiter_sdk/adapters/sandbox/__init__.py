"""The web sandbox: play with a bot in the browser as several users, and watch its sessions.

Usage::

    from waiter_sdk.adapters.sandbox import SandboxAdapter
    App(plugins=["example_plugins"], adapters=[SandboxAdapter()]).run()
    # or from a shell: waiter-sdk run    (then open http://127.0.0.1:8080/)

The adapter is imported on first use (it imports aiohttp); reading the settings model
(``.settings``) imports pydantic only, and ``import waiter_sdk`` imports neither.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .adapter import SandboxAdapter
    from .settings import SandboxSettings

__all__ = ["SandboxAdapter", "SandboxSettings"]

_WHERE = {"SandboxAdapter": "adapter", "SandboxSettings": "settings"}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{where}", __name__), name)
    globals()[name] = value  # once: later lookups are plain module attributes
    return value
