"""``Bot``: one OneBot account (``self_id``) and the connections that reach it.

Usage::

    bot = adapter.bot("10001")
    await bot.send_group_msg("123", "hello")
    await bot.call_action("set_group_card", group_id=123, user_id=456, card="x")

An account can be reached by several connections at once (a reverse Universal socket, a
forward socket, an HTTP API URL). Actions go over the newest open WebSocket that carries
actions, else over the HTTP API; with neither, they fail at once with
``AdapterConnectionError`` rather than waiting for a connection. ``connected`` says whether
either can reach the account: an HTTP API URL counts once it has answered ``get_login_info``
as this account.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .api import ActionsMixin

if TYPE_CHECKING:
    from .adapter import OneBot11Adapter
    from .channel import WsChannel

__all__ = ["Bot"]


class Bot(ActionsMixin):
    """One account of the adapter, with typed helpers for its actions."""

    __slots__ = ("_action_channels", "adapter", "self_id")

    def __init__(self, adapter: OneBot11Adapter, self_id: str) -> None:
        self.adapter = adapter
        self.self_id = self_id
        self._action_channels: list[WsChannel] = []

    async def call_action(
        self,
        action: str,
        /,
        *,
        timeout: float | None = None,
        **params: Any,
    ) -> Any:
        """Call ``action`` as this account; ``timeout`` overrides the configured one."""
        return await self.adapter.call_action(
            action, self_id=self.self_id, timeout=timeout, **params
        )

    @property
    def channel(self) -> WsChannel | None:
        """The WebSocket actions go over now (the newest open one), if any."""
        for channel in reversed(self._action_channels):
            if not channel.closed:
                return channel
        return None

    @property
    def connected(self) -> bool:
        """True when actions can reach this account: over a WebSocket, or a bound HTTP API URL.

        HTTP has no connection to lose, so a bound URL stays bound while the adapter runs; a
        call that finds it down fails at once with ``AdapterConnectionError``.
        """
        if self.channel is not None:
            return True
        api = self.adapter.http_api
        return api is not None and self.self_id in api.accounts

    def _add(self, channel: WsChannel) -> None:
        if channel not in self._action_channels:
            self._action_channels.append(channel)

    def _remove(self, channel: WsChannel) -> None:
        if channel in self._action_channels:
            self._action_channels.remove(channel)

    def __repr__(self) -> str:
        return f"Bot(self_id={self.self_id!r}, connected={self.connected})"
