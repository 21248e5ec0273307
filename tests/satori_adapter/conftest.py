"""Rigs for the Satori tests: an App wired to the real satori-python server (the session-wide
``satori_peer`` fixture lives in ``tests/conftest.py``, so that the reliability suite shares it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from waiter_sdk import App
from waiter_sdk.adapters.satori import SatoriAdapter, SatoriSettings
from waiter_sdk.config import Settings

from .peer_kit import PEER_TOKEN, PeerClient, PeerProcess

ALPHA = "alpha:bot-a"  # the SDK's self_id of the peer's two logins
BETA = "beta:bot-b"


@dataclass
class Rig:
    app: App
    adapter: SatoriAdapter
    peer: PeerClient
    opened: asyncio.Queue[str]
    ended: asyncio.Queue[str]

    async def session_opened(self, within: float = 5.0) -> str:
        """Wait until a handler has opened its session (its key), so the next message is its.

        A message injected right after the handler's own reply can overtake the opening:
        people are slower, tests are not.
        """
        async with asyncio.timeout(within):
            return await self.opened.get()

    async def session_ended(self, within: float = 5.0) -> str:
        """Wait until a session has ended (its key)."""
        async with asyncio.timeout(within):
            return await self.ended.get()


def satori_settings(url: str, **overrides: Any) -> SatoriSettings:
    options: dict[str, Any] = {
        "url": url,
        "token": PEER_TOKEN,
        "reconnect_interval": 0.05,
        "reconnect_max": 0.2,
        "request_timeout": 5.0,
    }
    options.update(overrides)
    return SatoriSettings(**options)


@asynccontextmanager
async def rig(
    peer: PeerProcess, plugins: list[Any] | tuple[Any, ...] = (), **overrides: Any
) -> AsyncIterator[Rig]:
    """An App whose Satori adapter is connected to ``peer`` (READY, and listed by the server)."""
    adapter = SatoriAdapter(satori_settings(peer.url, **overrides))
    app = App(settings=Settings(storage="memory"), plugins=plugins, adapters=[adapter])
    async with aiohttp.ClientSession() as session:
        client = PeerClient(peer, session)
        # The previous test's socket may still be listed for a moment after it closed.
        await client.connections(count=0)
        await client.mark()
        try:
            await app.start()
            await adapter.wait_ready(timeout=10)
            # The server sends READY before it lists the socket; an event posted in between
            # would only come on the next resume. Wait until it is listed.
            assert await client.connections(count=1) == 1
            opened: asyncio.Queue[str] = asyncio.Queue()
            ended: asyncio.Queue[str] = asyncio.Queue()
            app.listen("session_opened", lambda session: opened.put_nowait(session.key))
            app.listen("session_ended", lambda session: ended.put_nowait(session.key))
            yield Rig(app, adapter, client, opened, ended)
        finally:
            await app.stop()
