"""``OneBot11Adapter``: QQ through any OneBot v11 implementation, over any of its transports.

Usage::

    from waiter_sdk import App
    from waiter_sdk.adapters.onebot11 import OneBot11Adapter

    App(plugins=[MyPlugin], adapters=[OneBot11Adapter()]).run()   # settings: WAITER_ONEBOT11__*

The adapter owns the transports (reverse WS and HTTP POST on one aiohttp server, forward WS
clients, the HTTP API client), one ``Bot`` per account, and the path from a payload to
``app.dispatch``: duplicate check, parse, dispatch, all synchronous in the socket reader, so
events keep their arrival order and the reader never waits on a handler.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import aiohttp

from ..._tasks import TaskSet
from ...events import MessageChain, Target
from ...exceptions import AdapterConnectionError, ConfigError, EventError
from ..base import Adapter
from .api import ActionsMixin, wire_id
from .bot import Bot
from .channel import Role, WsChannel, payload_excerpt
from .dedup import Deduplicator
from .events import PLATFORM, parse_event
from .forward_ws import ForwardWs, backoff
from .http_api import HttpApi, redact_url
from .http_post import HttpPost
from .log import log
from .message import to_segments
from .reverse_ws import ReverseWs
from .server import Server
from .settings import OneBot11Settings

if TYPE_CHECKING:
    from ...app import App

__all__ = ["OneBot11Adapter"]


class OneBot11Adapter(Adapter, ActionsMixin):
    """The OneBot v11 adapter; ``settings`` default to ``app.settings.onebot11``."""

    platform = PLATFORM

    def __init__(self, settings: OneBot11Settings | None = None) -> None:
        self._given = settings
        self.settings: OneBot11Settings = settings if settings is not None else OneBot11Settings()
        self.app: App | None = None
        self.tasks = TaskSet()
        self.server: Server | None = None
        self.forward: list[ForwardWs] = []
        self.http_api: HttpApi | None = None
        self.hidden: tuple[str, ...] = ()
        self._session: aiohttp.ClientSession | None = None
        self._bots: dict[str, Bot] = {}
        self._channels: set[WsChannel] = set()
        self._dedup: Deduplicator | None = None
        self._changed = asyncio.Event()
        self._running = False

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self, app: App) -> None:
        """Listen and connect as the settings say; fails fast on a bad configuration."""
        self.app = app
        settings = (
            self._given
            if self._given is not None
            else app.settings.section("onebot11", OneBot11Settings)
        )
        self.settings = settings
        _check(settings)
        self.hidden = tuple(
            s.get_secret_value() for s in (settings.access_token, settings.secret) if s
        )
        self._dedup = Deduplicator(settings.dedup_window)
        self._running = True
        try:
            modes = set(settings.modes)
            if modes & {"reverse_ws", "http_post"}:
                self.server = Server(
                    settings.host, settings.port, max_body_size=settings.max_body_size
                )
                if "reverse_ws" in modes:
                    ReverseWs(self, settings).mount(self.server.app.router)
                if "http_post" in modes:
                    HttpPost(self, settings).mount(self.server.app.router)
                try:
                    await self.server.start()
                except OSError as exc:
                    raise AdapterConnectionError(
                        f"cannot listen on {settings.host}:{settings.port} ({exc.strerror}); "
                        "free the port or change WAITER_ONEBOT11__PORT / __HOST"
                    ) from exc
            if modes & {"forward_ws", "http_api"}:
                self._session = aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(sock_connect=settings.connect_timeout)
                )
            if "http_api" in modes:
                assert self._session is not None
                token = settings.access_token.get_secret_value() if settings.access_token else None
                self.http_api = HttpApi(
                    self._session,
                    settings.api_urls,
                    token=token,
                    timeout=settings.action_timeout,
                    hidden=self.hidden,
                    on_bound=self._http_bound,
                )
                await self.http_api.bind(settings.connect_timeout)
                if self.http_api.unbound:
                    # The usual order is bot first, then the implementation: keep asking,
                    # like a forward socket keeps reconnecting.
                    self.tasks.spawn(
                        self.http_api.keep_binding(
                            lambda attempt: backoff(
                                attempt, settings.reconnect_interval, settings.reconnect_max
                            ),
                            settings.connect_timeout,
                        ),
                        name="onebot11 HTTP API bind",
                    )
            if "forward_ws" in modes:
                assert self._session is not None
                for url in settings.ws_urls:
                    base = url.rstrip("/")
                    sockets: list[tuple[str, Role]] = (
                        [(f"{base}/api", "api"), (f"{base}/event", "event")]
                        if settings.ws_split
                        else [(url, "universal")]
                    )
                    for target, role in sockets:
                        client = ForwardWs(self, settings, self._session, target, role)
                        self.forward.append(client)
                        client.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Close every connection (pending calls fail at once), stop serving, cancel tasks."""
        self._running = False
        # Forward clients first, so that nothing reconnects while sockets close.
        await self.tasks.aclose()
        channels = list(self._channels)
        await asyncio.gather(
            *(channel.close("the adapter stopped") for channel in channels),
            return_exceptions=True,
        )
        await self.tasks.aclose()
        if self.server is not None:
            await self.server.stop()
            self.server = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        # Its session is closed: nothing can go over it, and no account is reachable through it.
        self.http_api = None
        self.forward.clear()
        self._notify()

    @property
    def reverse_ws_url(self) -> str | None:
        """The URL reverse WebSockets connect to, with the port bound (``PORT=0`` included).

        ``None`` before ``start`` and after ``stop``, or when ``reverse_ws`` is not a mode.
        """
        server = self.server
        if server is None or "reverse_ws" not in self.settings.modes:
            return None
        return server.url("ws", self.settings.path)

    @property
    def http_post_url(self) -> str | None:
        """The URL implementations POST events to, with the port bound; ``None`` as above."""
        server = self.server
        if server is None or "http_post" not in self.settings.modes:
            return None
        return server.url("http", self.settings.http_post_path)

    def describe(self) -> str:
        """Where implementations connect to, and what we connect to, on one line."""
        settings = self.settings
        parts: list[str] = []
        if self.reverse_ws_url is not None:
            parts.append(f"reverse WS {self.reverse_ws_url}")
        if self.http_post_url is not None:
            parts.append(f"HTTP POST {self.http_post_url}")
        if "forward_ws" in settings.modes:
            split = " (/api + /event)" if settings.ws_split else ""
            urls = ", ".join(redact_url(url) for url in settings.ws_urls)
            parts.append(f"forward WS {urls}{split}")
        if "http_api" in settings.modes:
            parts.append("HTTP API " + ", ".join(redact_url(url) for url in settings.api_urls))
        auth = []
        if settings.access_token:
            auth.append("access token")
        if settings.secret:
            auth.append("signature")
        return "; ".join(parts) + (f" [{' + '.join(auth)}]" if auth else " [no auth]")

    # --- accounts --------------------------------------------------------------------------

    @property
    def bots(self) -> dict[str, Bot]:
        """Every account seen so far, by ``self_id``."""
        return dict(self._bots)

    def bot(self, self_id: str | int) -> Bot:
        """The account ``self_id`` (it need not be connected yet)."""
        return self._bot(str(self_id))

    def _bot(self, self_id: str) -> Bot:
        bot = self._bots.get(self_id)
        if bot is None:
            bot = self._bots[self_id] = Bot(self, self_id)
        return bot

    async def wait_bot(
        self,
        self_id: str | int | None = None,
        timeout: float | None = None,
    ) -> Bot:
        """Wait until an account (``self_id``, or any) can carry actions; raise TimeoutError."""
        wanted = None if self_id is None else str(self_id)
        async with asyncio.timeout(timeout):
            while True:
                for bot in self._bots.values():
                    if (wanted is None or bot.self_id == wanted) and bot.connected:
                        return bot
                await self._changed.wait()

    def _http_bound(self, self_id: str) -> None:
        self._bot(self_id)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # --- channels (called by the transports) ------------------------------------------------

    def attach(self, channel: WsChannel) -> None:
        """A socket opened; replace an older reverse socket of the same account and role."""
        if channel.transport == "reverse_ws":
            for other in list(self._channels):
                if (
                    other.transport == "reverse_ws"
                    and other.self_id == channel.self_id
                    and other.role == channel.role
                ):
                    log.warning(
                        "onebot11 {}: replaced by a new connection of the same account", other.label
                    )
                    self.tasks.spawn(other.close("replaced by a new connection"))
        self._channels.add(channel)
        if channel.self_id is not None:
            self.identified(channel)

    def identified(self, channel: WsChannel) -> None:
        if channel.self_id is None or channel.closed:
            return
        bot = self._bot(channel.self_id)
        if channel.carries_actions:
            bot._add(channel)
        log.info("onebot11 {}: serves account {}", channel.label, channel.self_id)
        self._notify()

    def closed(self, channel: WsChannel) -> None:
        self._channels.discard(channel)
        if channel.self_id is not None and channel.self_id in self._bots:
            self._bots[channel.self_id]._remove(channel)
        self._notify()

    # --- events in -------------------------------------------------------------------------

    def deliver(self, payload: dict[str, Any], channel: WsChannel) -> None:
        """An event from a WebSocket (the reader calls this; it never blocks)."""
        self.deliver_payload(payload, channel.self_id or "")

    def deliver_payload(self, payload: dict[str, Any], default_self_id: str = "") -> None:
        """Deduplicate, parse and dispatch one event payload, synchronously."""
        app = self.app
        if app is None or not self._running:
            return
        dedup = self._dedup
        if dedup is not None and dedup.repeated(payload):
            log.debug("onebot11: dropped a repeated {} event", payload.get("post_type"))
            return
        try:
            event = parse_event(
                payload,
                adapter=self,
                default_self_id=default_self_id,
                drop_self=self.settings.drop_self_messages,
            )
        except EventError as exc:
            log.warning(
                "onebot11: dropped an unreadable event ({}): {}",
                exc,
                payload_excerpt(payload, self.hidden),
            )
            return
        if event is None:
            return
        if event.self_id:
            bot = self._bot(event.self_id)
            if self.http_api is not None and not bot.connected:
                # The implementation is up, so its HTTP API most likely answers by now.
                self.http_api.nudge()
        try:
            app.dispatch(event)
        except Exception:
            # Whatever went wrong belongs to this event; the reader must live on.
            log.exception("onebot11: dispatching {!r} failed", event)

    # --- actions and messages out ----------------------------------------------------------

    async def call_action(
        self,
        action: str,
        /,
        *,
        self_id: str | int | None = None,
        timeout: float | None = None,
        **params: Any,
    ) -> Any:
        """Call ``action`` as ``self_id`` (may be left out while one account is connected).

        Returns the response's ``data``. Raises ``ActionFailedError``, ``ActionTimeoutError``
        or, when no connection can carry it, ``AdapterConnectionError`` at once.
        """
        limit = timeout if timeout is not None else self.settings.action_timeout
        wanted = None if self_id is None else str(self_id)
        bot = self._pick(wanted)
        channel = bot.channel if bot is not None else None
        if channel is not None:
            return await channel.call(action, params, limit)
        if self.http_api is not None:
            return await self.http_api.call(
                bot.self_id if bot is not None else wanted, action, params, limit
            )
        raise AdapterConnectionError(
            f"no connection to OneBot account {wanted or '(any)'} can carry action {action!r}; "
            "is the implementation connected?"
        )

    def _pick(self, self_id: str | None) -> Bot | None:
        if self_id is not None:
            return self._bots.get(self_id)
        reachable = [bot for bot in self._bots.values() if bot.connected]
        if len(reachable) > 1:
            names = ", ".join(sorted(bot.self_id for bot in reachable))
            raise AdapterConnectionError(
                f"several OneBot accounts are connected ({names}); pass self_id to say which"
            )
        return reachable[0] if reachable else None

    async def send(
        self, target: Target, chain: MessageChain, *, reply_to: str | None = None
    ) -> str:
        """Send ``chain`` as ``target.self_id``; returns the new message's id as ``str``.

        No @ is added in groups: mention someone by putting an ``At`` in the chain.
        """
        segments = to_segments(chain, reply_to=reply_to)
        if not segments:
            raise ValueError("cannot send an empty message")
        if target.group_id is not None:
            data = await self.call_action(
                "send_group_msg",
                self_id=target.self_id,
                group_id=wire_id(target.group_id),
                message=segments,
            )
        else:
            data = await self.call_action(
                "send_private_msg",
                self_id=target.self_id,
                user_id=wire_id(target.user_id),
                message=segments,
            )
        if isinstance(data, dict) and data.get("message_id") is not None:
            return str(data["message_id"])
        return ""


def _check(settings: OneBot11Settings) -> None:
    problems = []
    if not settings.modes:
        problems.append("WAITER_ONEBOT11__MODES is empty; name at least one transport")
    if "forward_ws" in settings.modes and not settings.ws_urls:
        problems.append("mode forward_ws needs WAITER_ONEBOT11__WS_URLS")
    if "http_api" in settings.modes and not settings.api_urls:
        problems.append("mode http_api needs WAITER_ONEBOT11__API_URLS")
    for url in settings.ws_urls:
        if not url.startswith(("ws://", "wss://")):
            problems.append(f"WAITER_ONEBOT11__WS_URLS: {redact_url(url)!r} is not a ws:// URL")
    for url in settings.api_urls:
        if not url.startswith(("http://", "https://")):
            problems.append(f"WAITER_ONEBOT11__API_URLS: {redact_url(url)!r} is not an http:// URL")
    if problems:
        raise ConfigError("invalid OneBot v11 settings: " + "; ".join(problems))
