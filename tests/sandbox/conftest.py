"""A real sandbox on a free loopback port, and a page-like WebSocket client for it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from waiter_sdk import App
from waiter_sdk.adapters.sandbox import SandboxAdapter
from waiter_sdk.config import SandboxSettings, Settings

Frame = dict[str, Any]


class Page:
    """What the browser page does, minus the browser: a WebSocket that sends and reads frames."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seen: list[Frame] = []

    async def send(self, frame: Frame) -> None:
        await self.ws.send_str(json.dumps(frame))

    async def say(
        self, sender: str, text: str, conv: str = "group:g1", reply_to: str | None = None
    ) -> None:
        frame: Frame = {
            "type": "send",
            "conv": conv,
            "sender": sender,
            "parts": [{"type": "text", "text": text}],
        }
        if reply_to is not None:
            frame["reply_to"] = reply_to
        await self.send(frame)

    async def expect(
        self, kind: str, where: Callable[[Frame], bool] = lambda f: True, within: float = 3.0
    ) -> Frame:
        """The next frame of ``kind`` that satisfies ``where`` (earlier ones are skipped)."""
        async with asyncio.timeout(within):
            while True:
                message = await self.ws.receive()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"socket ended while waiting for {kind}: {message}")
                frame = json.loads(message.data)
                self.seen.append(frame)
                if frame["type"] == kind and where(frame):
                    return frame

    async def message_from(self, sender: str) -> Frame:
        frame = await self.expect("message", lambda f: f["message"]["sender_id"] == sender)
        return frame["message"]


def text_of(record: Frame) -> str:
    return "".join(p.get("text", "") for p in record["parts"])


class Sandbox:
    def __init__(self, app: App, adapter: SandboxAdapter, http: aiohttp.ClientSession) -> None:
        self.app = app
        self.adapter = adapter
        self.http = http

    @property
    def base(self) -> str:
        return self.adapter.url.split("?")[0]

    async def page(self, **kwargs: Any) -> Page:
        ws = await self.http.ws_connect(self.base + "ws", max_msg_size=0, **kwargs)
        page = Page(ws)
        await page.expect("snapshot")
        return page


SandboxFactory = Callable[..., Awaitable[Sandbox]]


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxFactory]:
    """``await sandbox(plugins=[...], settings=SandboxSettings(...))`` -> a started sandbox."""
    started: list[App] = []
    http = aiohttp.ClientSession()

    async def make(
        plugins: list[Any] | tuple[Any, ...] = (),
        settings: SandboxSettings | None = None,
        **adapter_kwargs: Any,
    ) -> Sandbox:
        adapter = SandboxAdapter(settings or SandboxSettings(port=0), **adapter_kwargs)
        app = App(settings=Settings.load(), plugins=plugins, adapters=[adapter])
        await app.start()
        started.append(app)
        return Sandbox(app, adapter, http)

    try:
        yield make
    finally:
        await http.close()
        for app in reversed(started):
            await app.stop()
