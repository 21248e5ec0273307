"""``EventSocket``: the event WebSocket ``/v1/events``, kept open, identified and alive.

Usage (the adapter starts one)::

    socket = EventSocket(sink, settings, session, tasks, hidden=(token,))
    socket.start()          # connects, IDENTIFY, READY, then events go to sink.deliver(body)

One connection goes through: connect (``connect_timeout``), send ``IDENTIFY`` with the token
and, after the first connection, the ``sn`` of the last event received (as ``sn`` and as the
older ``sequence``), wait for ``READY`` (``identify_timeout``) and hand its logins to the sink,
then read events while a pinger sends ``PING`` every ``ping_interval`` seconds. A ``PING``
whose ``PONG`` does not come within ``pong_timeout`` means the connection is dead: it is closed
and opened again. After a failed attempt or a lost connection, the next one waits a doubling
delay (``reconnect_interval`` up to ``reconnect_max``) with jitter.

Every ``EVENT`` goes through a ``ReplayGuard`` (a repeat after a resume is dropped) and then to
``sink.deliver`` synchronously, in arrival order, from the reader. A frame that is not JSON, not
an object, or not a known signal is logged once per connection (later ones at debug, with a
count at close) and the connection goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp
from aiohttp import WSMsgType

from ..._tasks import TaskSet
from .log import excerpt, log, mask
from .replay import ReplayGuard
from .settings import SatoriSettings
from .wire import dumps, loads

__all__ = ["EventSink", "EventSocket", "Op", "backoff", "events_url"]

_CLOSE_TIMEOUT = 2.0


class Op:
    """Signal opcodes of the event WebSocket."""

    EVENT = 0
    PING = 1
    PONG = 2
    IDENTIFY = 3
    READY = 4
    META = 5


class EventSink(Protocol):
    """What the socket reports to: the adapter."""

    def ready(self, logins: list[Mapping[str, Any]]) -> None:
        """READY arrived with these login objects."""

    def deliver(self, body: Mapping[str, Any]) -> None:
        """A new event (called from the reader; must not block)."""

    def disconnected(self) -> None:
        """The connection closed; another attempt follows unless the adapter stops."""


def events_url(base: str) -> str:
    """The WebSocket URL of ``base`` (the server's HTTP base URL)."""
    scheme, sep, rest = base.partition("://")
    return ("wss" if scheme.lower() == "https" else "ws") + sep + rest + "/v1/events"


def backoff(attempt: int, first: float, cap: float) -> float:
    """Delay before reconnect attempt ``attempt`` (1, 2, ...): doubling, capped, jittered.

    Half the delay is fixed and half random ("equal jitter"), so that a server restart does
    not bring every bot back in the same instant, and none retries in a tight loop.
    """
    delay = min(cap, first * 2.0 ** min(attempt - 1, 30))
    return delay / 2 + random.uniform(0, delay / 2)


class _Refused(Exception):
    """The server closed the connection instead of answering IDENTIFY."""


class EventSocket:
    """The one event WebSocket of an adapter, and the task that keeps it connected."""

    def __init__(
        self,
        sink: EventSink,
        settings: SatoriSettings,
        session: aiohttp.ClientSession,
        tasks: TaskSet,
        *,
        hidden: tuple[str, ...] = (),
    ) -> None:
        self._sink = sink
        self._settings = settings
        self._session = session
        self._tasks = tasks
        self._hidden = hidden
        self.url = events_url(settings.url)
        self.guard = ReplayGuard(settings.replay_window)
        self.connects = 0
        """Connections that reached READY, for tests and logs."""
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._malformed = 0
        self._pong = asyncio.Event()

    def start(self) -> None:
        self._tasks.spawn(self._keep_connected(), name=f"satori events {self.url}")

    @property
    def connected(self) -> bool:
        return self.ws is not None and not self.ws.closed

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
                served = await self._serve(ws)
                # A connection that lasted resets the delay; one that drops at once must not
                # turn into a reconnect storm, so it counts as a failed attempt.
                lasted = loop.time() - opened
                attempt = 1 if served and lasted >= settings.reconnect_max else attempt + 1
            delay = backoff(attempt, settings.reconnect_interval, settings.reconnect_max)
            log.info("satori {}: reconnecting in {:.2f} s", self.url, delay)
            await asyncio.sleep(delay)

    async def _connect(self) -> aiohttp.ClientWebSocketResponse | None:
        settings = self._settings
        try:
            async with asyncio.timeout(settings.connect_timeout):
                return await self._session.ws_connect(
                    self.url,
                    max_msg_size=settings.max_message_size,
                    timeout=aiohttp.ClientWSTimeout(ws_close=_CLOSE_TIMEOUT),
                    autoping=True,
                )
        except aiohttp.WSServerHandshakeError as exc:
            log.warning("satori {}: WebSocket handshake refused with HTTP {}", self.url, exc.status)
        except TimeoutError:
            log.warning(
                "satori {}: no connection within {:g} s", self.url, settings.connect_timeout
            )
        except (aiohttp.ClientError, OSError) as exc:
            log.warning("satori {}: cannot connect ({})", self.url, mask(str(exc), self._hidden))
        return None

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> bool:
        """Identify, then read until the socket closes; True when READY was reached."""
        self.ws = ws
        self._malformed = 0
        pinger: asyncio.Task[None] | None = None
        reason = "closed by the server"
        ready = False
        try:
            try:
                await self._identify(ws)
            except _Refused as refused:
                reason = str(refused)
                return False
            except TimeoutError:
                reason = f"no READY within {self._settings.identify_timeout:g} s"
                log.warning("satori {}: {}", self.url, reason)
                return False
            ready = True
            pinger = self._tasks.spawn(self._ping(ws), name=f"satori ping {self.url}")
            while True:
                message = await ws.receive()
                if message.type is WSMsgType.TEXT or message.type is WSMsgType.BINARY:
                    self._frame(message.data)
                elif message.type is WSMsgType.ERROR:
                    reason = f"error: {mask(str(message.data), self._hidden)}"
                    break
                elif message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                    if ws.close_code is not None:
                        reason = f"closed by the server (code {ws.close_code})"
                    break
            return True
        except asyncio.CancelledError:
            reason = "the adapter stopped"
            raise
        finally:
            if pinger is not None:
                pinger.cancel()
            self.ws = None
            if self._malformed > 1:
                log.warning(
                    "satori {}: {} malformed frames were dropped in all", self.url, self._malformed
                )
            if ready or reason != "closed by the server":
                log.info("satori {}: disconnected ({})", self.url, reason)
            with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError):
                await ws.close()
            self._sink.disconnected()

    async def _identify(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        body: dict[str, Any] = {}
        token = self._settings.token
        if token is not None:
            body["token"] = token.get_secret_value()
        sn = self.guard.last_sn
        if sn is not None:
            # 'sn' is the protocol's name; servers older than protocol 1.1 read 'sequence'.
            body["sn"] = sn
            body["sequence"] = sn
        await ws.send_str(dumps({"op": Op.IDENTIFY, "body": body}))
        async with asyncio.timeout(self._settings.identify_timeout):
            while True:
                message = await ws.receive()
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    signal = self._decode(message.data)
                    if signal is None:
                        continue
                    if signal.get("op") == Op.READY:
                        # Counted before the sink hears of it: whoever READY wakes sees it.
                        self.connects += 1
                        self._ready(signal.get("body"))
                        resumed = f" (resuming after sn {sn})" if sn is not None else ""
                        log.info("satori {}: ready{}", self.url, resumed)
                        return
                    self._signal(signal)  # an early event is still an event
                    continue
                if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                    code = ws.close_code
                    why = mask(str(message.extra or ""), self._hidden)[:100]
                    # satori-python closes with 3000 "Unauthorized"; others say "auth" somehow.
                    refused = code == 3000 or "auth" in why.lower()
                    hint = "; check WAITER_SATORI__TOKEN" if refused else ""
                    log.warning(
                        "satori {}: the server closed the connection instead of READY "
                        "(code {}{}){}",
                        self.url,
                        code,
                        f": {why}" if why else "",
                        hint,
                    )
                    raise _Refused(f"refused at IDENTIFY (code {code})")
                if message.type is WSMsgType.ERROR:
                    raise _Refused(f"error at IDENTIFY: {mask(str(message.data), self._hidden)}")

    def _ready(self, body: object) -> None:
        logins: list[Mapping[str, Any]] = []
        if isinstance(body, Mapping):
            found = body.get("logins")
            if isinstance(found, list):
                logins = [login for login in found if isinstance(login, Mapping)]
        try:
            self._sink.ready(logins)
        except Exception:
            log.exception("satori {}: could not take the logins of READY", self.url)

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        settings = self._settings
        loop = asyncio.get_running_loop()
        frame = dumps({"op": Op.PING})
        next_at = loop.time() + settings.ping_interval
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            # Start to start: the next PING is due ping_interval after this one went out.
            next_at = loop.time() + settings.ping_interval
            self._pong.clear()
            try:
                await ws.send_str(frame)
            except (ConnectionError, RuntimeError, aiohttp.ClientError):
                return  # the reader sees the close
            try:
                async with asyncio.timeout(settings.pong_timeout):
                    await self._pong.wait()
            except TimeoutError:
                log.warning(
                    "satori {}: no PONG within {:g} s; the connection is dead, reconnecting",
                    self.url,
                    settings.pong_timeout,
                )
                with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError):
                    await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)
                return

    # --- frames ------------------------------------------------------------------------------

    def _decode(self, data: str | bytes) -> Mapping[str, Any] | None:
        try:
            signal = loads(data)
        except ValueError:
            self._drop(data, "not JSON")
            return None
        except RecursionError:  # "[[[[...": one hostile frame must not end the reader
            self._drop(data, "nested too deeply")
            return None
        if not isinstance(signal, dict):
            self._drop(data, "not a JSON object")
            return None
        return signal

    def _frame(self, data: str | bytes) -> None:
        signal = self._decode(data)
        if signal is not None:
            self._signal(signal, data)

    def _signal(self, signal: Mapping[str, Any], data: str | bytes = "") -> None:
        op = signal.get("op")
        if type(op) is not int:
            self._drop(data or _signal_excerpt(signal), "a signal without an integer op")
            return
        if op == Op.EVENT:
            body = signal.get("body")
            if not isinstance(body, Mapping):
                self._drop(data or _signal_excerpt(signal), "an EVENT without a body object")
                return
            if self.guard.repeated(body):
                log.debug(
                    "satori {}: dropped event sn {} (already received)", self.url, body.get("sn")
                )
                return
            try:
                self._sink.deliver(body)
            except Exception:
                # A bug in one event's handling must not take the connection down with it.
                log.exception("satori {}: could not deliver an event", self.url)
        elif op == Op.PONG:
            self._pong.set()
        elif op == Op.READY:
            self._ready(signal.get("body"))
        elif op == Op.META:
            log.debug("satori {}: META signal ignored", self.url)
        else:
            log.debug("satori {}: ignored a signal with op {}", self.url, op)

    def _drop(self, data: str | bytes, why: str) -> None:
        self._malformed += 1
        # One warning per connection; later ones go to debug so a broken peer cannot flood logs.
        emit = log.warning if self._malformed == 1 else log.debug
        emit(
            "satori {}: dropped a frame that is {}: {}", self.url, why, excerpt(data, self._hidden)
        )


def _signal_excerpt(signal: Mapping[str, Any]) -> str:
    """A bounded text of a decoded signal for a log excerpt (never a deep ``repr``)."""
    keys = ", ".join(repr(k)[:20] for k in list(signal)[:5])
    return "{" + keys + (", ..." if len(signal) > 5 else "") + "}"
