"""``FakeOneBot``: the fake implementation on all four transports (test code only).

Usage::

    async with FakeOneBot(10001, token="t") as fake:
        await fake.connect_reverse("ws://127.0.0.1:8081/onebot/v11/ws")      # reverse WS
        url = await fake.serve_forward()                                      # forward WS server
        api = await fake.serve_http_api()                                     # HTTP API server
        fake.post_to("http://127.0.0.1:8081/onebot/v11/http")                 # HTTP POST
        await fake.group(42, "hello", group_id=7)                             # an event, everywhere
        sent = await fake.next_sent()                                         # what the app sent

Behaviour follows the spec and the real implementations: token checked before the upgrade
(401 missing, 403 wrong, like go-cqhttp), ``lifecycle.connect`` first on event-capable sockets,
``X-Self-ID`` / ``X-Client-Role`` on reverse sockets, ``X-Signature`` on HTTP POST, echo
returned verbatim, 404 for an unknown HTTP action.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from .impl import FakeState


@dataclass(eq=False)
class Conn:
    """One WebSocket of the fake, from either side."""

    ws: web.WebSocketResponse | aiohttp.ClientWebSocketResponse
    role: str  # universal / api / event
    transport: str  # reverse / forward
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None

    @property
    def events(self) -> bool:
        return self.role != "api"


class FakeOneBot:
    """A OneBot v11 implementation for tests, speaking every transport."""

    def __init__(
        self,
        self_id: int = 10001,
        *,
        token: str | None = None,
        secret: str | None = None,
        lifecycle: bool = True,
        max_frame: int = 64 * 1024 * 1024,
        **state: Any,
    ) -> None:
        self.state = FakeState(self_id, **state)
        self.token = token
        self.secret = secret
        self.lifecycle = lifecycle
        self.max_frame = max_frame
        self.conns: set[Conn] = set()
        self.post_urls: list[str] = []
        self.post_statuses: list[int] = []
        self.post_retries = 0
        self.forward_port: int | None = None
        self.api_port: int | None = None
        self.disconnects: asyncio.Queue[Conn] = asyncio.Queue()
        self.refusals: asyncio.Queue[int] = asyncio.Queue()
        self._session: aiohttp.ClientSession | None = None
        self._forward: web.AppRunner | None = None
        self._api: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        # calls, sent, next_sent(), wait_call(), failures, held ... live on the state.
        if name == "state":  # not set yet: never recurse
            raise AttributeError(name)
        return getattr(self.state, name)

    @property
    def self_id(self) -> int:
        return self.state.self_id

    async def __aenter__(self) -> FakeOneBot:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    # --- reverse WebSocket (the fake connects) ---------------------------------------------

    def handshake_headers(self, role: str, auth: str, token: str | None) -> dict[str, str]:
        headers = {"X-Self-ID": str(self.self_id), "X-Client-Role": role, "User-Agent": "OneBot/11"}
        token = self.token if token is None else token
        if auth == "bearer" and token:
            headers["Authorization"] = f"Bearer {token}"
        elif auth == "token" and token:
            headers["Authorization"] = f"Token {token}"  # go-cqhttp's scheme
        elif auth == "empty-bearer":
            headers["Authorization"] = "Bearer "  # NapCat/Lagrange with an empty token
        return headers

    async def connect_reverse(
        self,
        url: str,
        *,
        role: str = "Universal",
        auth: str = "bearer",
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> list[Conn]:
        """Connect as the given role (``split``: an API and an Event socket to the same URL)."""
        roles = ["API", "Event"] if role == "split" else [role]
        conns = []
        for one in roles:
            sent = self.handshake_headers(one, auth, token)
            if headers is not None:
                sent = {**sent, **headers}
                sent = {k: v for k, v in sent.items() if v is not None}
            target = url
            if auth == "query":
                target += ("&" if "?" in url else "?") + f"access_token={token or self.token}"
            ws = await self.session().ws_connect(target, headers=sent, max_msg_size=self.max_frame)
            conns.append(await self._open(ws, one.lower(), "reverse"))
        return conns

    async def _open(self, ws: Any, role: str, transport: str) -> Conn:
        conn = Conn(ws, role, transport)
        self.conns.add(conn)
        if conn.events and self.lifecycle:
            await ws.send_str(json.dumps(self.state.lifecycle()))
        if transport == "reverse":
            self._spawn(self._read(conn))  # a forward socket is read by its request handler
        return conn

    async def _read(self, conn: Conn) -> None:
        try:
            async for message in conn.ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    frame = json.loads(message.data)
                except ValueError:
                    await conn.ws.send_str(
                        json.dumps({"status": "failed", "retcode": 1400, "data": None})
                    )
                    continue
                if conn.role == "event" or not isinstance(frame, dict):
                    continue  # responses to events are ignored by the spec
                self._spawn(self._act(conn, frame))
        finally:
            conn.close_code = conn.ws.close_code
            self.conns.discard(conn)
            conn.closed.set()
            self.disconnects.put_nowait(conn)

    async def _act(self, conn: Conn, frame: dict[str, Any]) -> None:
        action = frame.get("action")
        call = self.state.record(
            str(action), frame.get("params", {}), frame.get("echo"), conn.transport
        )
        if action in self.state.held:
            self.state.held_calls.append(call)
            return
        envelope = (
            self.state.answer(action, frame.get("params", {}))
            if isinstance(action, str)
            else {
                "status": "failed",
                "retcode": 1404,
                "data": None,
                "message": "不支持的Api undefined",
            }
        )
        if "echo" in frame:
            envelope["echo"] = frame["echo"]
        if not conn.ws.closed:
            await conn.ws.send_str(json.dumps(envelope, ensure_ascii=False))

    # --- forward WebSocket (the fake listens) ----------------------------------------------

    async def serve_forward(self, port: int = 0) -> str:
        app = web.Application()
        for path in ("/", "/api", "/event", "/api/", "/event/"):
            app.router.add_get(path, self._forward_handler)
        self._forward, self.forward_port = await _serve(app, port)
        return f"ws://127.0.0.1:{self.forward_port}"

    async def stop_forward(self) -> None:
        await self._close_conns("forward")
        if self._forward is not None:
            await self._forward.cleanup()
            self._forward = None

    def _check_token(self, request: web.Request) -> int | None:
        if not self.token:
            return None
        header = request.headers.get("Authorization", "")
        given = (
            header.split(" ", 1)[1].strip() if " " in header else request.query.get("access_token")
        )
        if not given:
            return 401
        return None if hmac.compare_digest(given, self.token) else 403

    async def _forward_handler(self, request: web.Request) -> web.StreamResponse:
        status = self._check_token(request)
        if status is not None:
            self.refusals.put_nowait(status)
            return web.Response(status=status)  # go-cqhttp: refused before the upgrade
        role = request.path.strip("/") or "universal"
        ws = web.WebSocketResponse(max_msg_size=self.max_frame)
        await ws.prepare(request)
        conn = await self._open(ws, role, "forward")
        await self._read(conn)
        return ws

    # --- HTTP API (the fake listens) -------------------------------------------------------

    async def serve_http_api(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_route("*", "/{action}", self._api_handler)
        app.router.add_route("*", "/{action}/", self._api_handler)
        app.router.add_post("/", self._api_handler)
        self._api, self.api_port = await _serve(app, port)
        return f"http://127.0.0.1:{self.api_port}"

    async def stop_http_api(self) -> None:
        """Stop answering on the HTTP API port (``serve_http_api(port)`` starts it again)."""
        if self._api is not None:
            await self._api.cleanup()
            self._api = None

    async def _api_handler(self, request: web.Request) -> web.StreamResponse:
        status = self._check_token(request)
        if status is not None:
            return web.Response(status=status)
        params: Any = dict(request.query)
        params.pop("access_token", None)
        if request.method == "POST" and request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                try:
                    params = await request.json()
                except ValueError:
                    return web.Response(status=400)
            elif ctype == "application/x-www-form-urlencoded":
                params = dict(await request.post())
            else:
                return web.Response(status=406)
        action = request.match_info.get("action")
        if action is None:  # go-cqhttp: POST / with {"action", "params"}
            action, params = params.get("action"), params.get("params", {})
        call = self.state.record(str(action), params, None, "http")
        if action in self.state.held:
            self.state.held_calls.append(call)
            await self._closing.wait()  # no answer until the fake shuts down
            return web.Response(status=503)
        envelope = self.state.answer(str(action), params)
        if envelope["retcode"] == 1404:
            return web.Response(status=404)
        return web.json_response(envelope)

    # --- HTTP POST (the fake posts) --------------------------------------------------------

    def post_to(self, url: str) -> None:
        self.post_urls.append(url)

    def sign(self, body: bytes, secret: str | None = None) -> str:
        key = (secret if secret is not None else self.secret) or ""
        return "sha1=" + hmac.new(key.encode(), body, hashlib.sha1).hexdigest()

    async def post(self, url: str, body: bytes, headers: dict[str, str] | None = None) -> int:
        """One raw HTTP POST; returns the status (retried like go-cqhttp on failure)."""
        sent = {"Content-Type": "application/json", "X-Self-ID": str(self.self_id)}
        if self.secret:
            sent["X-Signature"] = self.sign(body)
        sent.update(headers or {})
        status = 0
        for _ in range(self.post_retries + 1):
            async with self.session().post(url, data=body, headers=sent) as response:
                status = response.status
                reply = await response.read()
            self.post_statuses.append(status)
            if 200 <= status < 300:
                if status == 200 and reply.strip():
                    self._quick_operation(json.loads(body), json.loads(reply))
                break
        return status

    def _quick_operation(self, event: dict[str, Any], operation: dict[str, Any]) -> None:
        self.state.answer(".handle_quick_operation", {"context": event, "operation": operation})

    # --- events ----------------------------------------------------------------------------

    async def emit(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Deliver an event on every event-capable socket and to every HTTP POST URL."""
        text = json.dumps(payload, ensure_ascii=False)
        await self.send_raw(text)
        for url in self.post_urls:
            await self.post(url, text.encode())
        return payload

    async def send_raw(self, text: str) -> None:
        """Send a frame as is (malformed JSON, oversized ...) on every event-capable socket."""
        for conn in list(self.conns):
            if conn.events and not conn.ws.closed:
                # closing under us: an event lost, as with a real implementation
                with contextlib.suppress(ConnectionError):
                    await conn.ws.send_str(text)

    async def private(self, user_id: int, message: Any, **fields: Any) -> dict[str, Any]:
        return await self.emit(self.state.message_event(user_id, message, **fields))

    async def group(
        self, user_id: int, message: Any, *, group_id: int, **fields: Any
    ) -> dict[str, Any]:
        return await self.emit(
            self.state.message_event(user_id, message, group_id=group_id, **fields)
        )

    def start_heartbeat(self, interval_ms: int, beats: int | None = None) -> asyncio.Task[None]:
        """Send heartbeats every ``interval_ms`` (``beats`` of them, then fall silent)."""
        self.stop_heartbeat()

        async def beat() -> None:
            count = 0
            while beats is None or count < beats:
                await self.send_raw(json.dumps(self.state.heartbeat(interval_ms)))
                count += 1
                await asyncio.sleep(interval_ms / 1000)

        self._heartbeat = self._spawn(beat())
        return self._heartbeat

    def stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None

    # --- connections -----------------------------------------------------------------------

    async def wait_disconnect(self, within: float = 3.0) -> Conn:
        async with asyncio.timeout(within):
            return await self.disconnects.get()

    async def _close_conns(self, transport: str | None = None) -> None:
        for conn in list(self.conns):
            if transport is None or conn.transport == transport:
                await conn.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)
                await conn.closed.wait()

    async def drop(self) -> None:
        """Close every WebSocket, as an implementation does when it restarts."""
        await self._close_conns()

    async def close(self) -> None:
        self._closing.set()
        self.stop_heartbeat()
        await self._close_conns()
        await self.stop_forward()
        await self.stop_http_api()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _serve(app: web.Application, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    return runner, int(runner.addresses[0][1])
