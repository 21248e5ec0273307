"""Forward WebSocket: we connect to the implementation's WebSocket server, and keep reconnecting.

Usage (the adapter starts one per URL, or two with ``ws_split``)::

    ForwardWs(adapter, settings, session, "ws://127.0.0.1:3001", "universal").start()

The token goes in ``Authorization: Bearer``. The account is learned from ``lifecycle.connect``
(or any first event); a socket that names nobody within ``identify_timeout`` is asked
``get_login_info``, so implementations that skip the lifecycle event still work. After a failed
attempt or a lost connection the next attempt waits a doubling delay, capped at
``reconnect_max``, with random jitter so that many bots do not reconnect in lockstep.
"""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING

import aiohttp

from ...exceptions import ActionFailedError, ActionTimeoutError, AdapterConnectionError
from ..redaction import mask
from .auth import auth_headers
from .channel import Role, WsChannel
from .http_api import redact_url
from .log import log

if TYPE_CHECKING:
    from .adapter import OneBot11Adapter
    from .settings import OneBot11Settings

__all__ = ["ForwardWs", "backoff"]

_CLOSE_TIMEOUT = 2.0


def backoff(attempt: int, first: float, cap: float) -> float:
    """Delay before reconnect attempt ``attempt`` (1, 2, ...): doubling, capped, jittered.

    "Equal jitter": half the delay is fixed, half random, so a restart of the implementation
    does not bring every bot back in the same instant, yet none retries in a tight loop.
    """
    delay = min(cap, first * 2.0 ** min(attempt - 1, 30))
    return delay / 2 + random.uniform(0, delay / 2)


class ForwardWs:
    """One forward WebSocket URL and the task that keeps it connected."""

    def __init__(
        self,
        adapter: OneBot11Adapter,
        settings: OneBot11Settings,
        session: aiohttp.ClientSession,
        url: str,
        role: Role,
    ) -> None:
        self._adapter = adapter
        self._settings = settings
        self._session = session
        self.url = url
        self.role: Role = role
        self.shown = redact_url(url)
        self.channel: WsChannel | None = None
        self.connects = 0

    def start(self) -> None:
        self._adapter.tasks.spawn(self._keep_connected(), name=f"onebot11 forward {self.shown}")

    async def _keep_connected(self) -> None:
        settings = self._settings
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            ws = await self._connect()
            if ws is None:
                attempt += 1
            else:
                opened = loop.time()
                await self._serve(ws)
                # A connection that lasted resets the delay; one that drops at once must not
                # turn into a reconnect storm, so it counts as a failed attempt.
                lasted = loop.time() - opened
                attempt = 1 if lasted >= settings.reconnect_max else attempt + 1
            delay = backoff(attempt, settings.reconnect_interval, settings.reconnect_max)
            log.info("onebot11 forward WS {}: reconnecting in {:.2f} s", self.shown, delay)
            await asyncio.sleep(delay)

    async def _connect(self) -> aiohttp.ClientWebSocketResponse | None:
        settings = self._settings
        token = settings.access_token.get_secret_value() if settings.access_token else None
        try:
            async with asyncio.timeout(settings.connect_timeout):
                return await self._session.ws_connect(
                    self.url,
                    headers=auth_headers(token),
                    max_msg_size=settings.max_message_size,
                    heartbeat=settings.ws_ping_interval or None,
                    timeout=aiohttp.ClientWSTimeout(ws_close=_CLOSE_TIMEOUT),
                )
        except aiohttp.WSServerHandshakeError as exc:
            why = {401: "no access token", 403: "access token rejected"}.get(exc.status, "")
            log.warning(
                "onebot11 forward WS {}: handshake refused with HTTP {}{}",
                self.shown,
                exc.status,
                f" ({why})" if why else "",
            )
        except TimeoutError:
            log.warning("onebot11 forward WS {}: no connection within the timeout", self.shown)
        except (aiohttp.ClientError, OSError) as exc:
            # aiohttp's message may quote the URL, and the URL may carry ?access_token=.
            why = mask(str(exc), self._adapter.hidden)
            log.warning("onebot11 forward WS {}: cannot connect ({})", self.shown, why)
        return None

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        settings = self._settings
        self.connects += 1
        channel = WsChannel(
            ws,
            role=self.role,
            sink=self._adapter,
            tasks=self._adapter.tasks,
            label=f"forward WS {self.role} {self.shown}",
            heartbeat_grace=settings.heartbeat_grace,
            hidden=self._adapter.hidden,
            transport="forward_ws",
        )
        self.channel = channel
        log.info("onebot11 {}: connected", channel.label)
        self._adapter.attach(channel)
        identify = None
        if channel.carries_actions:
            identify = self._adapter.tasks.spawn(self._identify(channel))
        try:
            await channel.run()
        finally:
            if identify is not None:
                identify.cancel()

    async def _identify(self, channel: WsChannel) -> None:
        # An API-only socket receives no events, so there is nothing to wait for.
        wait = self._settings.identify_timeout if channel.role == "universal" else 0.0
        if await channel.wait_identified(wait) or channel.closed:
            return
        try:
            info = await channel.call("get_login_info", {}, self._settings.action_timeout)
        except (ActionFailedError, ActionTimeoutError, AdapterConnectionError) as exc:
            log.warning("onebot11 {}: cannot learn the account ({})", channel.label, exc)
            return
        user_id = info.get("user_id") if isinstance(info, dict) else None
        if user_id is None:
            log.warning("onebot11 {}: get_login_info named no user_id", channel.label)
            return
        channel.identify(str(user_id))
