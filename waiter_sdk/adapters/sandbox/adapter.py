"""``SandboxAdapter``: a web page where you are Alice, Bob and Carol talking to your bot.

Usage::

    async with App(plugins=["example_plugins"], adapters=[SandboxAdapter()]) as app:
        print(app.adapters[0].describe())      # http://127.0.0.1:8080/
        await app.wait_closed()

One aiohttp server serves a static page and a WebSocket. The page sends what users type; the
adapter turns it into ``MessageEvent``s for ``app.dispatch`` and pushes to every open page what
the bot sends, the open sessions (``Inspector``) and an event log (``Hub`` does the fan-out).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from importlib import resources
from time import time as unix_time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import WSMsgType, web
from loguru import logger

from ..._tasks import TaskSet
from ...events import (
    At,
    AtAll,
    Component,
    Event,
    Image,
    MessageChain,
    MessageEvent,
    Plain,
    Reply,
    Target,
)
from ...exceptions import ActionFailedError, AdapterConnectionError
from ...session.keys import SessionKey
from ..base import Adapter
from ..limits import body_limit
from . import protocol as p
from .commands import command_rows
from .hub import Client, Hub
from .inspector import Inspector
from .security import check_bind, check_request, token_of
from .settings import SandboxSettings
from .state import BOT_ID, BOT_NAME, SandboxState

if TYPE_CHECKING:
    from ...app import App
    from ...session.controller import SessionController

__all__ = ["SandboxAdapter"]

_ASSETS = {"app.js": "text/javascript", "app.css": "text/css", "favicon.svg": "image/svg+xml"}
_HEADERS = {
    # Defence in depth behind textContent-only rendering: no inline or foreign script at all.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src * data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class SandboxAdapter(Adapter):
    """The web sandbox: platform ``"sandbox"``, bot id ``"bot"``.

    ``settings=None`` reads ``app.settings.sandbox`` at start. ``history_limit`` bounds the
    messages kept per conversation for pages that connect later.
    """

    platform = "sandbox"
    self_id = BOT_ID

    def __init__(
        self, settings: SandboxSettings | None = None, *, history_limit: int = 200
    ) -> None:
        self._given = settings
        self.settings = settings if settings is not None else SandboxSettings()
        self.state = SandboxState(history_limit=history_limit)
        self._tasks = TaskSet()
        self.hub = Hub(self._tasks)
        self._app: App | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inspector: Inspector | None = None
        self._runner: web.AppRunner | None = None
        self._unlisten: list[Callable[[], None]] = []
        self._assets: dict[str, bytes] = {}
        self._port = self.settings.port
        # Sessions this sandbox was asked to end ("Close", "Expire now"): their chats get a
        # system line saying so when they end.
        self._asked: dict[str, str] = {}
        self._log = logger.bind(adapter="sandbox")
        # A fresh value per adapter lets a reconnecting page tell that the server restarted.
        self.instance = secrets.token_hex(8)

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self, app: App) -> None:
        settings = (
            self._given
            if self._given is not None
            else app.settings.section("sandbox", SandboxSettings)
        )
        check_bind(settings)
        self.settings = settings
        folder = resources.files(__package__) / "static"
        self._assets = {name: (folder / name).read_bytes() for name in (*_ASSETS, "index.html")}

        web_app = web.Application(
            client_max_size=p.MAX_FRAME_BYTES,
            middlewares=[body_limit(p.MAX_FRAME_BYTES, "sandbox")],
        )
        web_app.router.add_get("/", self._page)
        web_app.router.add_get("/static/{name}", self._asset)
        web_app.router.add_get("/ws", self._websocket)
        runner = web.AppRunner(web_app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, settings.host or None, settings.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise AdapterConnectionError(
                f"the sandbox cannot listen on {settings.host}:{settings.port} "
                f"({exc.strerror or exc}); set 'sandbox.port' (WAITER_SANDBOX__PORT) to a free "
                "port, or 'sandbox.host' to an address of this machine"
            ) from exc
        self._runner = runner
        for address in runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                self._port = int(address[1])
                break
        self._app = app
        self._loop = asyncio.get_running_loop()
        self._inspector = Inspector(
            app, where=self._where, push=self.hub.broadcast, chats=self._chats_of
        )
        self._unlisten = [
            app.listen("incoming", self._on_incoming),
            app.listen("sent", self._on_sent),
            app.listen("session_opened", self._on_opened),
            app.listen("session_changed", self._on_changed),
            app.listen("session_ended", self._on_ended),
            app.listen("plugins_changed", self._on_plugins_changed),
        ]
        self._tasks.spawn(self._inspector.watch(), name="sandbox-inspector")

    async def stop(self) -> None:
        for unlisten in self._unlisten:
            unlisten()
        self._unlisten = []
        await self.hub.close_all()
        await self._tasks.aclose()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._app = None
        self._loop = None
        self._inspector = None

    def describe(self) -> str:
        """The URL to open; a configured token shows as a placeholder so logs never hold it."""
        base = self._base_url()
        return base + "?token=<sandbox.token>" if token_of(self.settings) else base

    @property
    def url(self) -> str:
        """The full URL to open, with the token when one is set (for scripts and tests)."""
        token = token_of(self.settings)
        return self._base_url() + (f"?token={quote(token, safe='')}" if token else "")

    def _base_url(self) -> str:
        host = self.settings.host or "0.0.0.0"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self._port}/"

    # --- the bot speaks --------------------------------------------------------------------

    async def send(
        self, target: Target, chain: MessageChain, *, reply_to: str | None = None
    ) -> str:
        if self._loop is None:
            raise AdapterConnectionError("the sandbox is not running; start the app first")
        conv = _conv_of(target)
        if not self.state.conv_exists(conv):
            raise ActionFailedError("send", None, f"the sandbox has no conversation {conv!r}")
        message_id = self.state.next_id()
        now = self._loop.time()
        record = self.state.record(
            conv, BOT_ID, chain, message_id=message_id, now=now, reply_to=reply_to
        )
        self.hub.broadcast({"type": "message", "now": now, "message": record})
        return message_id

    # --- HTTP ------------------------------------------------------------------------------

    def _deny(self, request: web.Request, *, websocket: bool) -> web.Response | None:
        given = request.query.get("token")
        auth = request.headers.get("Authorization", "")
        if given is None and auth.startswith("Bearer "):
            given = auth.removeprefix("Bearer ")
        denied = check_request(
            request.headers.get("Host"),
            request.headers.get("Origin"),
            given,
            self.settings,
            websocket=websocket,
        )
        if denied is None:
            return None
        self._log.warning("sandbox refused {} {}: {}", request.method, request.path, denied.reason)
        return web.Response(status=denied.status, text=denied.reason + "\n", headers=_HEADERS)

    async def _page(self, request: web.Request) -> web.StreamResponse:
        denied = self._deny(request, websocket=False)
        if denied is not None:
            return denied
        return web.Response(
            body=self._assets["index.html"],
            content_type="text/html",
            charset="utf-8",
            headers=_HEADERS,
        )

    async def _asset(self, request: web.Request) -> web.StreamResponse:
        # The package's own files, the same for everyone and holding no state: served without
        # the token, because <script src> and <link href> cannot carry one.
        name = request.match_info["name"]
        kind = _ASSETS.get(name)
        if kind is None:
            raise web.HTTPNotFound()
        return web.Response(body=self._assets[name], content_type=kind, headers=_HEADERS)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        denied = self._deny(request, websocket=True)
        if denied is not None:
            return denied
        # The socket reads frames up to MAX_SOCKET_BYTES, so that one a little over the frame
        # limit gets an error frame (parse_frame) instead of a closed connection.
        ws = web.WebSocketResponse(heartbeat=25.0, timeout=2.0, max_msg_size=p.MAX_SOCKET_BYTES)
        await ws.prepare(request)
        client = self.hub.join(ws, request.remote or "?", self._snapshot())
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    await self._receive(client, message.data)
                elif message.type is WSMsgType.BINARY:
                    self._refuse(client, "binary frames are not accepted; send JSON text")
                elif message.type is WSMsgType.ERROR:
                    self._log.info("sandbox page {} dropped: {}", client.peer, ws.exception())
        finally:
            self.hub.leave(client)
        return ws

    # --- frames from the page --------------------------------------------------------------

    def _refuse(self, client: Client, reason: str, ref: str | None = None) -> None:
        self._log.info("sandbox page {} sent a bad frame: {}", client.peer, reason[:200])
        frame: dict[str, Any] = {"type": "error", "message": reason}
        if ref is not None:
            frame["ref"] = ref  # the page puts that message's text back in its box
        self.hub.send(client, frame)

    async def _receive(self, client: Client, text: str) -> None:
        try:
            frame = p.parse_frame(text)
        except p.FrameError as exc:
            self._refuse(client, str(exc), exc.ref)
            return
        try:
            await self._handle(frame)
        except ValueError as exc:
            self._refuse(client, str(exc), getattr(frame, "ref", None))
        except Exception:
            self._log.exception("sandbox failed on a {} frame", frame.type)
            self.hub.send(client, {"type": "error", "message": "internal error; see server log"})

    async def _handle(self, frame: p.ClientFrame) -> None:
        state, hub = self.state, self.hub
        if isinstance(frame, p.SendMessage):
            self._user_message(frame)
        elif isinstance(frame, p.AddUser | p.RenameUser):
            if isinstance(frame, p.AddUser):
                state.add_user(frame.name, frame.user_id)
            else:
                state.rename_user(frame.user_id, frame.name)
            hub.broadcast({"type": "users", "users": state.user_list()})
        elif isinstance(frame, p.AddGroup):
            state.add_group(frame.name, frame.group_id)
            hub.broadcast({"type": "groups", "groups": state.group_list()})
        elif isinstance(frame, p.SetRole):
            state.set_role(frame.user_id, frame.role)
            hub.broadcast({"type": "users", "users": state.user_list()})
        elif isinstance(frame, p.Restore):
            state.restore(
                [(u.id, u.name) for u in frame.users],
                [(g.id, g.name) for g in frame.groups],
                {u.id: u.role for u in frame.users if u.role is not None},
            )
            hub.broadcast({"type": "users", "users": state.user_list()})
            hub.broadcast({"type": "groups", "groups": state.group_list()})
        elif isinstance(frame, p.ExpireSession):
            # Kept until the session ends: a botoy getter ends it a moment after its wait.
            self._asked[frame.key] = "expire"
            if self._app is None or not await self._app.sessions.expire(frame.key):
                self._asked.pop(frame.key, None)
                raise ValueError(
                    f"no open session with the key {frame.key!r} has a deadline to expire"
                )
        else:
            self._asked[frame.key] = "close"
            if self._app is None or not await self._app.sessions.close(frame.key):
                self._asked.pop(frame.key, None)
                raise ValueError(f"no open session has the key {frame.key!r}")

    def _user_message(self, frame: p.SendMessage) -> None:
        state, app, loop = self.state, self._app, self._loop
        if app is None or loop is None:
            raise ValueError("the sandbox is stopping")
        kind, _, ident = frame.conv.partition(":")
        if frame.sender not in state.users:
            raise ValueError(f"there is no user {frame.sender!r}")
        if not state.conv_exists(frame.conv):
            raise ValueError(f"there is no conversation {frame.conv!r}")
        if kind == "private" and ident != frame.sender:
            raise ValueError("only its own user can type in a private chat with the bot")
        quoted = None
        if frame.reply_to is not None:
            quoted = state.get(frame.reply_to)
            if quoted is None or quoted["conv"] != frame.conv:
                raise ValueError(f"message {frame.reply_to} is not in this conversation any more")
        names = state.names()
        components: list[Component] = [Reply(frame.reply_to)] if frame.reply_to else []
        to_me = kind == "private" or (quoted is not None and quoted["bot"])
        for part in frame.parts:
            if isinstance(part, p.TextPart):
                components.append(Plain(part.text))
            elif isinstance(part, p.AtPart):
                if part.user_id not in names:
                    raise ValueError(f"cannot mention {part.user_id!r}: no such user")
                components.append(At(part.user_id, names[part.user_id]))
                to_me = to_me or part.user_id == BOT_ID
            elif isinstance(part, p.AtAllPart):
                if kind != "group":
                    raise ValueError("@all works in groups only")
                components.append(AtAll())
            else:
                components.append(Image(part.url))
        chain = MessageChain._trusted(components)
        message_id = state.next_id()
        now = loop.time()
        record = state.record(
            frame.conv, frame.sender, chain, message_id=message_id, now=now, reply_to=frame.reply_to
        )
        # Every open page shows the message before the bot reacts to it; the sending page
        # knows it by its ref, and lets go of the text it kept.
        shown: dict[str, Any] = {"type": "message", "now": now, "message": record}
        if frame.ref is not None:
            shown["ref"] = frame.ref
        self.hub.broadcast(shown)
        event = MessageEvent(
            platform=self.platform,
            self_id=self.self_id,
            message=chain,
            message_id=message_id,
            sender_id=frame.sender,
            sender_name=state.users[frame.sender],
            sender_role=state.roles.get(frame.sender, "member") if kind == "group" else None,
            group_id=ident if kind == "group" else None,
            reply_to=frame.reply_to,
            to_me=to_me,
            # Unix time, as on every platform (the page's own timeline stays on the loop
            # clock, which counts the sessions' deadlines down).
            timestamp=unix_time(),
            adapter=self,
        )
        app.dispatch(event)
        self._touch()

    # --- what the app reports (listeners run inside dispatch: they must never raise) -------

    def _touch(self) -> None:
        if self._inspector is not None:
            self._inspector.touch()

    def _where(self, event: MessageEvent) -> tuple[str | None, str]:
        if event.platform == self.platform:
            conv = f"group:{event.group_id}" if event.group_id else f"private:{event.sender_id}"
            return conv, self.state.conv_label(conv)
        return None, event.unified_msg_origin

    def _chats_of(self, session: SessionController) -> list[dict[str, Any]]:
        """The sandbox chats ``session`` listens in, read from its keys (not its opening event).

        A login opened in Group 1 with ``friend=True`` listens in the user's private chat only;
        a member session also in their private chat; a reply session in the chats of the
        messages it follows. A key of another platform or shape names no chat here.
        """
        chats: dict[str | None, str] = {}
        for text in (session.key, *(session.extra_keys or ())):
            try:
                key = SessionKey.decode(text)
            except ValueError:
                continue
            if key.platform != self.platform or key.bot != self.self_id:
                continue
            conv: str | None = None
            if key.chat[:1] == "g":
                conv = f"group:{key.chat[1:]}"
            elif key.chat[:1] == "p":
                conv = f"private:{key.chat[1:]}"
            elif key.topic and (record := self.state.get(key.topic)) is not None:
                conv = record["conv"]  # a reply key: the chat of the message it follows
            elif not key.chat and key.sender:
                name = self.state.users.get(key.sender, key.sender)
                chats.setdefault(None, f"{name}, in every chat")
                continue
            if conv is not None and conv not in chats:
                chats[conv] = self.state.conv_label(conv)
        return [{"conv": conv, "label": label} for conv, label in chats.items()]

    def _log_entry(self, direction: str, text: str) -> None:
        now = self._loop.time() if self._loop is not None else 0.0
        # Long lines go whole (up to a bound) and the page folds them; it used to cut at 300.
        if len(text) > _LOG_TEXT:
            text = text[: _LOG_TEXT - 1] + "…"
        entry = self.state.add_log({"t": now, "dir": direction, "text": text})
        self.hub.broadcast({"type": "log", "now": now, "entry": entry})

    def _on_incoming(self, event: Event) -> None:
        try:
            if isinstance(event, MessageEvent):
                who = event.sender_name or event.sender_id
                role = (
                    f" ({event.sender_role})" if event.sender_role not in (None, "member") else ""
                )
                said = _summary(event.message)
                self._log_entry("in", f"{self._where(event)[1]} · {who}{role}: {said}")
            else:
                kind = getattr(event, "type", "")
                self._log_entry("in", f"{event.kind} {kind} ({event.platform})")
        except Exception:
            self._log.exception("sandbox could not log an incoming event")

    def _on_sent(self, target: Target, chain: MessageChain, message_id: str) -> None:
        try:
            if target.platform == self.platform:
                label = self.state.conv_label(_conv_of(target))
            else:
                label = f"{target.platform} {target.group_id or target.user_id}"
            self._log_entry("out", f"{label} #{message_id}: {_summary(chain)}")
            self._touch()
        except Exception:
            self._log.exception("sandbox could not log a sent message")

    def _on_opened(self, session: SessionController) -> None:
        try:
            if self._inspector is not None:
                row = self._inspector.opened(session)
                chats = ", ".join(c["label"] for c in self._chats_of(session)) or row["where"]
                self._log_entry(
                    "session",
                    f"opened {row['plugin']} · {row['filter']} in {row['where']}"
                    + (f", listening in {chats}" if chats != row["where"] else ""),
                )
        except Exception:
            self._log.exception("sandbox could not show an opened session")

    def _on_changed(self, session: SessionController) -> None:
        try:
            if self._inspector is not None:
                self._inspector.changed(session)
        except Exception:
            self._log.exception("sandbox could not show a moved deadline")

    def _on_ended(self, session: SessionController) -> None:
        try:
            if self._inspector is not None:
                row = self._inspector.ended(session)
                chats = ", ".join(c["label"] for c in row["chats"])
                self._log_entry("session", f"ended {row['plugin']} in {chats}: {row['reason']}")
                asked = self._asked.pop(session.key, None)
                line = _system_text(row["plugin"], row["reason"], asked)
                if line is not None:
                    for chat in row["chats"]:
                        if chat["conv"] is not None:
                            self._system_line(chat["conv"], line)
        except Exception:
            self._log.exception("sandbox could not show an ended session")

    def _system_line(self, conv: str, text: str) -> None:
        if self._loop is None or not self.state.conv_exists(conv):
            return
        now = self._loop.time()
        record = self.state.system_line(conv, text, message_id=self.state.next_id(), now=now)
        self.hub.broadcast({"type": "message", "now": now, "message": record})

    def _on_plugins_changed(self) -> None:
        try:
            if self._app is not None:
                self.hub.broadcast({"type": "commands", "commands": command_rows(self._app)})
                self._log_entry("session", "plugins reloaded")
        except Exception:
            self._log.exception("sandbox could not show reloaded plugins")

    def _snapshot(self) -> dict[str, Any]:
        inspector = self._inspector
        return {
            "type": "snapshot",
            "instance": self.instance,
            "now": self._loop.time() if self._loop is not None else 0.0,
            "bot": {"id": BOT_ID, "name": BOT_NAME},
            "users": self.state.user_list(),
            "groups": self.state.group_list(),
            "conversations": self.state.snapshot_conversations(),
            "sessions": inspector.rows() if inspector is not None else [],
            "ended": inspector.recently_ended() if inspector is not None else [],
            "log": list(self.state.log),
            "commands": command_rows(self._app) if self._app is not None else [],
            "limits": {"text": p.MAX_TEXT, "parts": p.MAX_PARTS, "frame": p.MAX_FRAME_BYTES},
        }


_LOG_TEXT = 2000

# What a chat is told when a session ends in a way its players did not cause themselves.
_ENDINGS = {
    "shutdown": "Session {plugin} ended: the bot is stopping.",
    "reloaded": "Session {plugin} ended: its plugin was reloaded.",
}


def _system_text(plugin: str, reason: str, asked: str | None) -> str | None:
    if asked == "close" and reason == "cancelled":
        return f"Session {plugin} was closed from the session inspector."
    if asked == "expire" and reason == "timeout":
        return f"Session {plugin} expired: “Expire now” fired its deadline."
    ending = _ENDINGS.get(reason)
    return ending.format(plugin=plugin) if ending is not None else None


def _conv_of(target: Target) -> str:
    return (
        f"group:{target.group_id}" if target.group_id is not None else f"private:{target.user_id}"
    )


def _summary(chain: MessageChain) -> str:
    """The chain as the log shows it: text, mentions as "@name", other parts in brackets."""
    pieces: list[str] = []
    for component in chain:
        if isinstance(component, Plain):
            pieces.append(component.content)
        elif isinstance(component, At):
            pieces.append(f"@{component.name or component.user_id}")
        elif isinstance(component, AtAll):
            pieces.append("@all")
        elif isinstance(component, Reply):
            pieces.append(f"[reply #{component.message_id}] ")
        else:
            pieces.append(f"[{component.type}]")
    return "".join(pieces)
