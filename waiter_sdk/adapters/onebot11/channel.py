"""``WsChannel``: one OneBot WebSocket, from either side, carrying events, actions or both.

Usage (a transport owns the socket; the adapter is the sink)::

    channel = WsChannel(ws, role="universal", self_id="10001", sink=adapter, ...)
    await channel.run()                                   # reads until the socket closes
    data = await channel.call("get_login_info", {}, 30)   # from any other task

The reader hands every event to ``sink.deliver`` synchronously, in arrival order, and never
waits on a handler. A frame without ``post_type`` is an action response, matched by its echo
against this connection's own pending calls; responses with an echo this connection did not
send (another client's, an object, ``null``) are ignored. When the socket closes, every pending
call fails at once with ``AdapterConnectionError`` instead of waiting for its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, Literal, Protocol

import aiohttp
from aiohttp import WSMsgType, web

from ..._tasks import TaskSet
from ...exceptions import ActionTimeoutError, AdapterConnectionError
from ..redaction import excerpt, payload_excerpt
from .api import action_result, new_echo
from .log import log
from .wire import dumps, loads

__all__ = ["ChannelSink", "Role", "Transport", "WsChannel", "excerpt", "payload_excerpt"]

Role = Literal["universal", "api", "event"]
Transport = Literal["reverse_ws", "forward_ws"]
Socket = web.WebSocketResponse | aiohttp.ClientWebSocketResponse

_MAX_HEARTBEAT = 3600.0


class ChannelSink(Protocol):
    """What a channel reports to: the adapter."""

    def deliver(self, payload: dict[str, Any], channel: WsChannel) -> None:
        """An event payload arrived on ``channel`` (called from the reader, must not block)."""

    def identified(self, channel: WsChannel) -> None:
        """``channel.self_id`` became known."""

    def closed(self, channel: WsChannel) -> None:
        """``channel`` closed; it carries no more calls."""


class WsChannel:
    """One WebSocket to a OneBot implementation, with its pending calls and its watchdog."""

    __slots__ = (
        "_closed",
        "_grace",
        "_hidden",
        "_identified",
        "_last_seen",
        "_loop",
        "_malformed",
        "_pending",
        "_silence_limit",
        "_sink",
        "_tasks",
        "_watchdog",
        "_ws",
        "close_reason",
        "label",
        "role",
        "self_id",
        "transport",
    )

    def __init__(
        self,
        ws: Socket,
        *,
        role: Role,
        sink: ChannelSink,
        tasks: TaskSet,
        label: str,
        transport: Transport,
        self_id: str | None = None,
        heartbeat_grace: float = 3.0,
        hidden: tuple[str, ...] = (),
    ) -> None:
        self._ws = ws
        self._sink = sink
        self._tasks = tasks
        self._loop = asyncio.get_running_loop()
        self._pending: dict[str, tuple[str, asyncio.Future[dict[str, Any]]]] = {}
        self._closed = False
        self._malformed = 0
        self._last_seen = self._loop.time()
        self._silence_limit: float | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._grace = heartbeat_grace
        self._hidden = hidden
        self._identified = asyncio.Event()
        if self_id is not None:
            self._identified.set()
        self.role: Role = role
        self.transport: Transport = transport
        self.self_id = self_id
        self.label = label
        self.close_reason = ""

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def carries_actions(self) -> bool:
        return self.role != "event"

    @property
    def pending(self) -> int:
        """How many calls wait for their response."""
        return len(self._pending)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"WsChannel({self.label}, role={self.role}, self_id={self.self_id}, {state})"

    # --- reading ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Read frames until the socket closes; then fail what is pending and tell the sink."""
        reason = "closed by the implementation"
        try:
            while True:
                message = await self._ws.receive()
                kind = message.type
                if kind is WSMsgType.TEXT:
                    self._frame(message.data)
                elif kind is WSMsgType.BINARY:
                    self._frame(message.data.decode("utf-8", "replace"))
                elif kind is WSMsgType.ERROR:
                    reason = f"error: {message.data}"
                    log.warning("onebot11 {}: {}; closing", self.label, message.data)
                    break
                elif kind in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                    break
        except asyncio.CancelledError:
            reason = "the adapter stopped"
            raise
        finally:
            self._mark_closed(self.close_reason or reason)
            if not self._ws.closed:
                # Cancelled (the adapter is stopping): close now; the close timeout is short.
                await self._close_socket(aiohttp.WSCloseCode.GOING_AWAY)

    def _frame(self, text: str) -> None:
        self._last_seen = self._loop.time()
        try:
            payload = loads(text)
        except ValueError:
            self._drop_malformed(text, "not JSON")
            return
        except RecursionError:  # "[[[[...": one hostile frame must not end the reader
            self._drop_malformed(text, "nested too deeply")
            return
        if not isinstance(payload, dict):
            self._drop_malformed(text, "not a JSON object")
            return
        if "post_type" in payload:
            self._event(payload)
        else:
            self._response(payload)

    def identify(self, self_id: str) -> None:
        """Record which account this socket serves (from an event, or ``get_login_info``)."""
        if self.self_id is not None:
            return
        self.self_id = self_id
        self._identified.set()
        self._sink.identified(self)

    async def wait_identified(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for ``self_id``; True once it is known."""
        if self.self_id is None and seconds > 0:
            try:
                async with asyncio.timeout(seconds):
                    await self._identified.wait()
            except TimeoutError:
                pass
        return self.self_id is not None

    def _event(self, payload: dict[str, Any]) -> None:
        self_id = payload.get("self_id")
        if (
            self.self_id is None
            and isinstance(self_id, str | int)
            and not isinstance(self_id, bool)
            and self_id != ""
        ):
            # lifecycle.connect comes first, but any event names the account (an id, not
            # whatever else a broken frame holds there).
            self.identify(str(self_id))
        if payload.get("meta_event_type") == "heartbeat":
            self._heartbeat(payload.get("interval"))
        try:
            self._sink.deliver(payload, self)
        except Exception:
            # A bug in one event's handling must not take the connection down with it.
            log.exception("onebot11 {}: could not deliver an event", self.label)

    def _response(self, payload: dict[str, Any]) -> None:
        echo = payload.get("echo")
        entry = self._pending.get(echo) if isinstance(echo, str) else None
        if entry is None:
            log.debug("onebot11 {}: ignored a response with echo {!r}", self.label, echo)
            return
        future = entry[1]
        if not future.done():
            future.set_result(payload)

    def _drop_malformed(self, text: str, why: str) -> None:
        self._malformed += 1
        # One warning per connection; later ones go to debug so a broken peer cannot flood logs.
        emit = log.warning if self._malformed == 1 else log.debug
        emit(
            "onebot11 {}: dropped a frame that is {}: {}",
            self.label,
            why,
            excerpt(text, self._hidden),
        )

    # --- liveness --------------------------------------------------------------------------

    def _heartbeat(self, interval: object) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int | float | str):
            return
        try:
            value = float(interval)
        except ValueError:
            return
        if value <= 0:
            return
        # The field is milliseconds; a value under 100 can only be seconds from a confused
        # implementation (go-cqhttp configures seconds), and nobody beats every 0.1 s.
        seconds = value if value < 100 else value / 1000
        self._silence_limit = min(seconds, _MAX_HEARTBEAT) * self._grace
        if self._watchdog is None and not self._closed:
            self._watchdog = self._loop.call_at(
                self._last_seen + self._silence_limit, self._check_silence
            )

    def _check_silence(self) -> None:
        self._watchdog = None
        if self._closed or self._silence_limit is None:
            return
        due = self._last_seen + self._silence_limit
        if self._loop.time() < due:
            # Frames came in since the timer was armed: re-arm, rather than per frame.
            self._watchdog = self._loop.call_at(due, self._check_silence)
            return
        log.warning(
            "onebot11 {}: no frame for {:.1f} s ({:g} heartbeat intervals); closing",
            self.label,
            self._silence_limit,
            self._grace,
        )
        self._tasks.spawn(self.close("heartbeat timeout"), name=f"close {self.label}")

    # --- calling ---------------------------------------------------------------------------

    async def call(self, action: str, params: dict[str, Any], limit: float) -> Any:
        """Send one action and wait for its response; return its ``data``.

        Raises ``ActionFailedError``, ``ActionTimeoutError`` after ``limit`` seconds, or
        ``AdapterConnectionError`` as soon as the socket is closed.
        """
        if self._closed:
            raise AdapterConnectionError(
                f"{self.label} is closed ({self.close_reason}); action {action!r} not sent"
            )
        echo = new_echo()
        # Encode first: params JSON cannot hold raise TypeError here, before there is a pending
        # entry that nothing would remove.
        frame = dumps({"action": action, "params": params, "echo": echo})
        future: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._pending[echo] = (action, future)
        try:
            async with asyncio.timeout(limit):
                try:
                    try:
                        await self._ws.send_str(frame)
                    except UnicodeEncodeError:
                        # A lone surrogate (half an emoji, cut by a Node.js implementation and
                        # quoted back) has no UTF-8 form; escaped JSON carries it intact.
                        await self._ws.send_str(
                            json.dumps({"action": action, "params": params, "echo": echo})
                        )
                except (ConnectionError, RuntimeError, aiohttp.ClientError) as exc:
                    raise AdapterConnectionError(
                        f"{self.label} could not send action {action!r}: {exc}"
                    ) from None
                response = await future
        except TimeoutError:
            raise ActionTimeoutError(action, limit) from None
        finally:
            self._pending.pop(echo, None)
        return action_result(action, response)

    # --- closing ---------------------------------------------------------------------------

    async def close(self, reason: str = "closed by the adapter") -> None:
        """Close the socket; pending calls fail at once, not when the handshake ends."""
        self._mark_closed(reason)
        await self._close_socket(aiohttp.WSCloseCode.GOING_AWAY)

    async def _close_socket(self, code: int) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError):
            await self._ws.close(code=code)

    def _mark_closed(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self.close_reason = reason
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        pending, self._pending = self._pending, {}
        for action, future in pending.values():
            if not future.done():
                future.set_exception(
                    AdapterConnectionError(
                        f"{self.label} closed ({reason}) before action {action!r} was answered"
                    )
                )
        if self._malformed > 1:
            log.warning(
                "onebot11 {}: {} malformed frames were dropped in all", self.label, self._malformed
            )
        log.info("onebot11 {}: disconnected ({})", self.label, reason)
        self._sink.closed(self)
