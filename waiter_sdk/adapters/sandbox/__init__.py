"""The web sandbox: play with a bot in the browser as several users, and watch its sessions.

Usage::

    from waiter_sdk.adapters.sandbox import SandboxAdapter
    App(plugins=["example_plugins"], adapters=[SandboxAdapter()]).run()
    # or from a shell: waiter-sdk run    (then open http://127.0.0.1:8080/)

The adapter is imported on first use (it imports aiohttp); reading the settings model
(``.settings``) imports pydantic only, and ``import waiter_sdk`` imports neither.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .adapter import SandboxAdapter
    from .settings import SandboxSettings

__all__ = ["SandboxAdapter", "SandboxSettings"]

_WHERE = {"SandboxAdapter": "adapter", "SandboxSettings": "settings"}


__getattr__ = lazy_attributes(__name__, _WHERE)
