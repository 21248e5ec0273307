"""The web sandbox: play with a bot in the browser as several users, and watch its sessions.

Usage::

    from waiter_sdk.adapters.sandbox import SandboxAdapter
    App(plugins=["example_plugins"], adapters=[SandboxAdapter()]).run()
    # or from a shell: waiter-sdk run    (then open http://127.0.0.1:8080/)

Importing this package imports aiohttp; ``import waiter_sdk`` alone does not.
"""

from .adapter import SandboxAdapter

__all__ = ["SandboxAdapter"]
