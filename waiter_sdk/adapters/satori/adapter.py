"""``SatoriAdapter``: every platform a Satori server bridges (Koishi, satori-python, ...).

Usage::

    from waiter_sdk import App
    from waiter_sdk.adapters.satori import SatoriAdapter

    App(plugins=[MyPlugin], adapters=[SatoriAdapter()]).run()   # settings: WAITER_SATORI__*

The adapter owns the event WebSocket (``EventSocket``), the HTTP API client (``SatoriApi``),
the logins the server announced, and the path from an event body to ``app.dispatch``: parse
and dispatch, synchronously in the socket reader, so events keep their arrival order and the
reader never waits on a handler. Replies go out through ``message.create`` as the login the
event came in on (``event.self_id`` is ``"{platform}:{user id}"``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from ..._tasks import TaskSet
from ...events import MessageChain, MessageEvent, MetaEvent, Target
from ...exceptions import ActionFailedError, AdapterConnectionError, EventError
from ..base import Adapter
from .api import SatoriApi
from .event_socket import EventSocket
from .events import DIRECT, PLATFORM, parse_event, self_id_of, split_self_id
from .log import log
from .message import to_content
from .settings import SatoriSettings

if TYPE_CHECKING:
    from ...app import App

__all__ = ["Login", "SatoriAdapter"]

_DIRECT_CHANNELS = 10_000  # private chats whose channel id is remembered


@dataclass(frozen=True, slots=True)
class Login:
    """One account the Satori server serves: ``self_id`` is what events carry."""

    platform: str
    user_id: str
    name: str = ""
    status: int | None = None

    @property
    def self_id(self) -> str:
        return self_id_of(self.platform, self.user_id)


class SatoriAdapter(Adapter):
    """The Satori adapter; ``settings`` default to ``app.settings.satori``."""

    platform = PLATFORM

    def __init__(self, settings: SatoriSettings | None = None) -> None:
        self._given = settings
        self.settings: SatoriSettings = settings if settings is not None else SatoriSettings()
        self.app: App | None = None
        self.tasks = TaskSet()
        self.socket: EventSocket | None = None
        self.api: SatoriApi | None = None
        self._session: aiohttp.ClientSession | None = None
        self._logins: dict[str, Login] = {}
        # (self_id, user id) -> the DIRECT channel of that private chat, oldest first.
        self._direct: dict[tuple[str, str], str] = {}
        self._changed = asyncio.Event()
        self._running = False

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self, app: App) -> None:
        """Connect the event WebSocket (it keeps reconnecting) and ready the HTTP client."""
        self.app = app
        settings = (
            self._given
            if self._given is not None
            else app.settings.section("satori", SatoriSettings)
        )
        self.settings = settings
        hidden = (settings.token.get_secret_value(),) if settings.token else ()
        self._running = True
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(sock_connect=settings.connect_timeout)
        )
        self.api = SatoriApi(self._session, settings)
        self.socket = EventSocket(self, settings, self._session, self.tasks, hidden=hidden)
        self.socket.start()

    async def stop(self) -> None:
        """Fail pending API calls at once, close the socket, cancel the tasks."""
        self._running = False
        if self.api is not None:
            await self.api.close()
        await self.tasks.aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._notify()

    def describe(self) -> str:
        auth = "token" if self.settings.token else "no token"
        return f"Satori server {self.settings.url} (events {self.settings.url}/v1/events) [{auth}]"

    # --- logins ----------------------------------------------------------------------------

    @property
    def logins(self) -> dict[str, Login]:
        """The logins the server announced (READY, ``login-*`` events), by ``self_id``."""
        return dict(self._logins)

    @property
    def connected(self) -> bool:
        """Whether the event WebSocket is open and identified."""
        return self.socket is not None and self.socket.connected

    async def wait_ready(self, timeout: float | None = None, *, connects: int = 1) -> None:
        """Wait until the event WebSocket has reached READY ``connects`` times in all (for a
        caller that must not send before the server knows the bot); raise TimeoutError."""
        async with asyncio.timeout(timeout):
            while self.socket is None or self.socket.connects < connects or not self.connected:
                await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def ready(self, logins: list[Mapping[str, Any]]) -> None:
        """READY: the logins the server serves now (EventSink)."""
        found: dict[str, Login] = {}
        for raw in logins:
            login = _login(raw)
            if login is not None:
                found[login.self_id] = login
        self._logins = found
        names = ", ".join(sorted(found)) or "none"
        log.info("satori: logins {}", names)
        self._notify()

    def disconnected(self) -> None:
        """The event WebSocket closed (EventSink)."""
        self._notify()

    # --- events in -------------------------------------------------------------------------

    def deliver(self, body: Mapping[str, Any]) -> None:
        """Parse and dispatch one event body, synchronously (EventSink)."""
        app = self.app
        if app is None or not self._running:
            return
        try:
            event = parse_event(body, adapter=self, drop_self=self.settings.drop_self_messages)
        except EventError as exc:
            log.warning("satori: dropped an unreadable event (sn {!r}): {}", _sn(body), exc)
            return
        if event is None:
            return
        if isinstance(event, MessageEvent):
            if event.group_id is None:
                self._remember_direct(event)
        elif isinstance(event, MetaEvent):
            self._login_event(event.type, body)
        try:
            app.dispatch(event)
        except Exception:
            # Whatever went wrong belongs to this event; the reader must live on.
            log.exception("satori: dispatching {!r} failed", event)

    def _remember_direct(self, event: MessageEvent) -> None:
        raw = event.raw or {}
        channel = raw.get("channel")
        if not isinstance(channel, Mapping):
            message = raw.get("message")
            channel = message.get("channel") if isinstance(message, Mapping) else None
        channel_id = channel.get("id") if isinstance(channel, Mapping) else None
        if isinstance(channel_id, str) and channel_id:
            key = (event.self_id, event.sender_id)
            self._direct.pop(key, None)
            self._direct[key] = channel_id
            if len(self._direct) > _DIRECT_CHANNELS:
                del self._direct[next(iter(self._direct))]

    def _login_event(self, kind: str, body: Mapping[str, Any]) -> None:
        login = _login(body.get("login"))
        if login is None:
            return
        if kind == "login-removed":
            self._logins.pop(login.self_id, None)
        else:
            self._logins[login.self_id] = login
        self._notify()

    # --- actions and messages out ----------------------------------------------------------

    async def call(
        self,
        method: str,
        /,
        params: dict[str, Any] | None = None,
        *,
        self_id: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Call the API ``method`` (``"resource.method"``) as the login ``self_id``.

        ``self_id`` may be left out while the server serves one login. Raises
        ``ActionFailedError``, ``ActionTimeoutError``, or ``AdapterConnectionError`` (the adapter
        is not started or stopped, the server cannot be reached).
        """
        api = self.api
        if api is None or not self._running:
            raise AdapterConnectionError(
                f"the Satori adapter is not running; API call {method!r} was not sent"
            )
        platform, user_id = self._login_of(self_id)
        return await api.call(
            method, params or {}, platform=platform, user_id=user_id, timeout=timeout
        )

    def _login_of(self, self_id: str | None) -> tuple[str, str]:
        if self_id is None:
            if len(self._logins) != 1:
                known = ", ".join(sorted(self._logins)) or "none yet"
                raise AdapterConnectionError(
                    f"pass self_id to say which Satori login acts (logins: {known})"
                )
            only = next(iter(self._logins.values()))
            return only.platform, only.user_id
        login = self._logins.get(self_id)
        if login is not None:
            return login.platform, login.user_id
        try:
            return split_self_id(self_id)  # a login the server has not announced (yet)
        except ValueError as exc:
            raise AdapterConnectionError(str(exc)) from None

    async def send(
        self, target: Target, chain: MessageChain, *, reply_to: str | None = None
    ) -> str:
        """Send ``chain`` with ``message.create`` as ``target.self_id``; the first new id.

        A private target is the login's DIRECT channel with that user: the one its messages
        came from, else one ``user.channel.create`` opens.
        """
        content = to_content(chain, reply_to=reply_to)
        if not content:
            raise ValueError("cannot send an empty message")
        if target.group_id is not None:
            channel_id = target.group_id
        else:
            assert target.user_id is not None  # a Target has one or the other
            channel_id = await self._direct_channel(target.self_id, target.user_id)
        data = await self.call(
            "message.create",
            {"channel_id": channel_id, "content": content},
            self_id=target.self_id,
        )
        return _first_id(data)

    async def _direct_channel(self, self_id: str, user_id: str) -> str:
        known = self._direct.get((self_id, user_id))
        if known is not None:
            return known
        data = await self.call("user.channel.create", {"user_id": user_id}, self_id=self_id)
        channel_id = data.get("id") if isinstance(data, Mapping) else None
        if (
            not isinstance(channel_id, str | int)
            or isinstance(channel_id, bool)
            or channel_id == ""
        ):
            raise ActionFailedError(
                "user.channel.create", None, f"the answer names no channel for user {user_id!r}"
            )
        channel_type = data.get("type") if isinstance(data, Mapping) else None
        if channel_type not in (None, DIRECT):
            log.debug("satori: user.channel.create gave a channel of type {!r}", channel_type)
        self._direct[(self_id, user_id)] = str(channel_id)
        return str(channel_id)


def _first_id(data: object) -> str:
    # message.create answers with the messages it created (a platform may split one).
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        message_id = data[0].get("id")
        if isinstance(message_id, str | int) and not isinstance(message_id, bool):
            return str(message_id)
    return ""


def _login(raw: object) -> Login | None:
    if not isinstance(raw, Mapping):
        return None
    platform = raw.get("platform")
    user = raw.get("user")
    user_id = user.get("id") if isinstance(user, Mapping) else raw.get("self_id")
    if not isinstance(platform, str) or not platform or not isinstance(user_id, str | int):
        return None
    if isinstance(user_id, bool) or user_id == "":
        return None
    name = user.get("name") if isinstance(user, Mapping) else None
    status = raw.get("status")
    return Login(
        platform,
        str(user_id),
        name if isinstance(name, str) else "",
        status if type(status) is int else None,
    )


def _sn(body: Mapping[str, Any]) -> object:
    sn = body.get("sn")
    return sn if type(sn) is int else None
