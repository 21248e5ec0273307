"""A tiny Satori server on aiohttp, for what the real one cannot be made to do on cue.

Usage::

    fake = FakeSatori(token="t")
    url = await fake.start()                 # http://127.0.0.1:<port>
    ws = await fake.next_socket()            # after IDENTIFY, READY is sent
    await fake.send_event({...})             # an EVENT on the latest socket
    fake.answer("message.create", 404, "no")

It checks the token on IDENTIFY and records every IDENTIFY body and every API request with its
headers. It can stop answering PINGs (``answer_pings = False``) or hold an API call forever
(``hold("message.create")``), so tests can see the adapter act on a dead connection and on a
stop with calls pending.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

LOGINS = [{"sn": 0, "platform": "chat", "user": {"id": "bot"}, "status": 1}]


@dataclass
class Request:
    method: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeSatori:
    token: str | None = None
    answer_pings: bool = True
    identifies: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    pings: int = 0

    def __post_init__(self) -> None:
        self._answers: dict[str, tuple[int, str]] = {}
        self._held: set[str] = set()
        self._sockets: asyncio.Queue[web.WebSocketResponse] = asyncio.Queue()
        self._request_seen = asyncio.Event()
        self.socket: web.WebSocketResponse | None = None
        self._runner: web.AppRunner | None = None
        self._release = asyncio.Event()

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/v1/events", self._events)
        app.router.add_post("/v1/{method}", self._api)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- the event socket ----------------------------------------------------------------------

    async def _events(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        first = await ws.receive()
        identify = json.loads(first.data)
        body = identify.get("body") or {}
        self.identifies.append(body)
        if self.token is not None and body.get("token") != self.token:
            await ws.close(code=3000, message=b"Unauthorized")
            return ws
        await ws.send_str(json.dumps({"op": 4, "body": {"logins": LOGINS, "proxy_urls": []}}))
        self.socket = ws
        self._sockets.put_nowait(ws)
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                signal = json.loads(message.data)
                if signal.get("op") == 1:
                    self.pings += 1
                    if self.answer_pings:
                        await ws.send_str(json.dumps({"op": 2}))
        return ws

    async def next_socket(self, within: float = 5.0) -> web.WebSocketResponse:
        async with asyncio.timeout(within):
            return await self._sockets.get()

    async def send_event(self, body: dict[str, Any]) -> None:
        assert self.socket is not None
        await self.socket.send_str(json.dumps({"op": 0, "body": body}))

    async def send_raw(self, frame: str | bytes) -> None:
        assert self.socket is not None
        if isinstance(frame, bytes):
            await self.socket.send_bytes(frame)
        else:
            await self.socket.send_str(frame)

    # --- the API -------------------------------------------------------------------------------

    def answer(self, method: str, status: int, body: str) -> None:
        self._answers[method] = (status, body)

    def hold(self, method: str) -> None:
        self._held.add(method)

    async def wait_request(self, within: float = 5.0) -> Request:
        async with asyncio.timeout(within):
            while not self.requests:
                self._request_seen.clear()
                await self._request_seen.wait()
        return self.requests[-1]

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.read()
        self.requests.append(
            Request(method, dict(request.headers), json.loads(raw) if raw else None)
        )
        self._request_seen.set()
        if method in self._held:
            await self._release.wait()
        status, body = self._answers.get(method, (200, json.dumps([{"id": "sent-1"}])))
        return web.Response(status=status, text=body, content_type="application/json")
