"""``Adapter``: what a platform connection implements so the app can receive and send.

Usage (a minimal adapter)::

    class Echo(Adapter):
        platform = "echo"
        async def start(self, app): self.app = app
        async def stop(self): ...
        async def send(self, target, chain, *, reply_to=None): print(chain.plain_text); return "1"

An adapter turns platform data into events and hands each to ``app.dispatch(event)``
synchronously, in arrival order, from its reader: dispatch never blocks, so the reader never
waits on a handler.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from ..events import MessageChain, Target

if TYPE_CHECKING:
    from ..app import App

__all__ = ["Adapter"]


class Adapter(ABC):
    """Base class of platform adapters."""

    platform: str = ""

    @abstractmethod
    async def start(self, app: App) -> None:
        """Connect or listen; from now on, call ``app.dispatch`` for every event."""

    @abstractmethod
    async def stop(self) -> None:
        """Disconnect and release everything; pending calls fail with ``AdapterConnectionError``."""

    @abstractmethod
    async def send(
        self, target: Target, chain: MessageChain, *, reply_to: str | None = None
    ) -> str:
        """Send ``chain`` to ``target``; return the platform's id of the sent message."""

    def describe(self) -> str:
        """One line for the start-up banner (where to connect, what URL to open)."""
        return self.platform
