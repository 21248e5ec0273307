"""Reverse WebSocket: implementations connect to us, as Universal, API or Event clients.

Usage (the adapter mounts it)::

    ReverseWs(adapter, settings).mount(server.app.router)

Every role connects to the one configured path (``path/api`` and ``path/event`` are accepted
too); ``X-Client-Role`` says which, case-insensitively. The access token is checked before the
upgrade (401 missing, 403 wrong), as is ``X-Self-ID``, which pairs the API and Event sockets of
one account. A new socket for the same account and role replaces the old one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .auth import check_token, given_token
from .channel import Role, WsChannel
from .log import log

if TYPE_CHECKING:
    from .adapter import OneBot11Adapter
    from .settings import OneBot11Settings

__all__ = ["ReverseWs"]

_ROLES: dict[str, Role] = {"universal": "universal", "api": "api", "event": "event"}
_CLOSE_TIMEOUT = 2.0


class ReverseWs:
    """The reverse WebSocket endpoint."""

    def __init__(self, adapter: OneBot11Adapter, settings: OneBot11Settings) -> None:
        self._adapter = adapter
        self._settings = settings
        self.base = "" if settings.path == "/" else settings.path

    def mount(self, router: web.UrlDispatcher) -> None:
        for suffix in ("", "/api", "/event"):
            path = self.base + suffix or "/"
            router.add_get(path, self.handle)
            if path != "/":
                router.add_get(path + "/", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Check the handshake, then read the socket until it closes."""
        settings = self._settings
        peer = request.remote or "?"
        token = settings.access_token.get_secret_value() if settings.access_token else None
        status = check_token(token, given_token(request.headers, request.query))
        if status is not None:
            why = "no access token" if status == 401 else "a wrong access token"
            log.warning("onebot11 reverse WS from {}: refused, {}", peer, why)
            return web.Response(status=status, text=f"{status}: {why}\n")
        self_id = request.headers.get("X-Self-ID", "").strip()
        header = request.headers.get("X-Client-Role", "").strip().lower()
        role = _ROLES.get(header) if header else self._role_from_path(request.path)
        problem = ""
        if not self_id:
            problem = "the X-Self-ID header is missing"
        elif role is None:
            problem = f"X-Client-Role {header[:20]!r} is not Universal, API or Event"
        ws = web.WebSocketResponse(
            max_msg_size=settings.max_message_size,
            heartbeat=settings.ws_ping_interval or None,
            timeout=_CLOSE_TIMEOUT,
        )
        if not problem and not ws.can_prepare(request).ok:
            problem = "not a WebSocket upgrade request"
        if problem or role is None:
            log.warning("onebot11 reverse WS from {}: refused, {}", peer, problem)
            return web.Response(status=400, text=f"400: {problem}\n")
        await ws.prepare(request)
        channel = WsChannel(
            ws,
            role=role,
            sink=self._adapter,
            tasks=self._adapter.tasks,
            label=f"reverse WS {role} {self_id} from {peer}",
            self_id=self_id,
            heartbeat_grace=settings.heartbeat_grace,
            hidden=self._adapter.hidden,
            transport="reverse_ws",
        )
        log.info("onebot11 {}: connected", channel.label)
        self._adapter.attach(channel)
        await channel.run()
        return ws

    def _role_from_path(self, path: str) -> Role | None:
        # No X-Client-Role (a non-conforming client): the path decides, Universal by default.
        tail = path.rstrip("/").rsplit("/", 1)[-1].lower()
        if path.rstrip("/") != self.base and tail in ("api", "event"):
            return _ROLES[tail]
        return "universal"
