"""``MatrixAdapter``: one bot account on a Matrix homeserver, over the client-server API.

Usage::

    from waiter_sdk import App
    from waiter_sdk.adapters.matrix import MatrixAdapter

    App(plugins=[MyPlugin], adapters=[MatrixAdapter()]).run()   # settings: WAITER_MATRIX__*

One task long-polls ``/sync`` (``timeout`` = ``sync_timeout``, from the stored position) and
hands each batch to the ``SyncReader``, which dispatches every new message in order, from the
loop itself: ``app.dispatch`` never blocks, so the loop never waits on a handler. A failed sync
(homeserver down, 5xx, a garbled answer) is retried after a doubling delay, capped at
``reconnect_max``. Invitations are accepted by tracked tasks when ``auto_join`` is on. Sends
``PUT`` each event under a transaction id of its own, so a retried send never posts twice.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import mimetypes
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

import aiohttp
import orjson

from ..._tasks import TaskSet
from ...events import Image, MessageChain, Reply, Target
from ...exceptions import (
    ActionFailedError,
    ActionTimeoutError,
    AdapterConnectionError,
    AdapterError,
    ConfigError,
    EventError,
)
from ..base import Adapter
from .client import Client, backoff
from .events import PLATFORM
from .log import log
from .message import Upload, render
from .position import Position
from .rooms import Rooms
from .settings import MatrixSettings
from .sync import Invite, SyncReader

if TYPE_CHECKING:
    from ...app import App

__all__ = ["MatrixAdapter"]

_CLIENT = "/_matrix/client/v3"
# Presence, typing, receipts and room account data are of no use to a bot: leave them out.
_FILTER: dict[str, Any] = {
    "presence": {"types": []},
    "account_data": {"types": ["m.direct"]},
    "room": {
        "timeline": {"limit": 100},
        "ephemeral": {"types": []},
        "account_data": {"types": []},
    },
}


def _first_filter() -> dict[str, Any]:
    """The filter of a first sync, which only learns state: one timeline event per room.

    It names an event type of its own each time. Synapse answers a repeated /sync request (the
    same token, filter and position) from a cache for two minutes, and a first sync has no
    position: a bot restarted within that time would get its previous run's first answer and
    then replay everything since. A filter no earlier request used cannot hit that cache.
    """
    fresh = f"org.waiter.fresh.{uuid.uuid4().hex}"
    return {**_FILTER, "room": {**_FILTER["room"], "timeline": {"limit": 1, "not_types": [fresh]}}}


def _path(*parts: str) -> str:
    return "/".join(quote(part, safe="") for part in parts)


class MatrixAdapter(Adapter):
    """The Matrix adapter; ``settings`` default to ``app.settings.matrix``."""

    platform = PLATFORM

    def __init__(self, settings: MatrixSettings | None = None) -> None:
        self._given = settings
        self.settings: MatrixSettings = settings if settings is not None else MatrixSettings()
        self.app: App | None = None
        self.tasks = TaskSet()
        self.user_id = self.settings.user_id
        self.rooms = Rooms(self.user_id)
        self.since: str | None = None
        self.syncs = 0  # answers read since start (tests wait on it; so can a health check)
        self._client: Client | None = None
        self._session: aiohttp.ClientSession | None = None
        self._reader: SyncReader | None = None
        self._position: Position | None = None
        self._joining: set[str] = set()
        self._creating: dict[str, asyncio.Lock] = {}
        self.failures = 0  # sync attempts failed in a row
        self._progress = asyncio.Event()  # set (and replaced) after each sync attempt
        self._running = False

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self, app: App) -> None:
        """Check the settings and the token, then start syncing in the background.

        Fails fast with ``ConfigError`` without a homeserver or token, or when the homeserver
        refuses the token (or it belongs to another account than ``user_id``); a homeserver
        that is down is waited for by the sync loop instead, as a restart of it would be.
        """
        self.app = app
        settings = (
            self._given
            if self._given is not None
            else app.settings.section("matrix", MatrixSettings)
        )
        self.settings = settings
        _check(settings)
        assert settings.access_token is not None
        token = settings.access_token.get_secret_value()
        self._session = aiohttp.ClientSession()
        self._client = Client(self._session, settings.homeserver, token, settings)
        self._running = True
        try:
            self.user_id = settings.user_id
            try:
                # Checks the token (and the user id, when given) before the app counts as up.
                await self._whoami()
            except (AdapterConnectionError, ActionTimeoutError) as exc:
                # Down for now: the sync loop asks again, as it waits for a restart.
                log.warning("matrix: cannot ask the homeserver who the bot is yet ({})", exc)
            else:
                self._ready_for(self.user_id)
            self.tasks.spawn(self._sync_forever(), name="matrix sync")
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop syncing; pending sends fail at once with ``AdapterConnectionError``."""
        self._running = False
        if self._client is not None:
            self._client.close()
        await self.tasks.aclose()
        if self._position is not None and self.since is not None:
            # The loop may have been stopped between dispatching a batch and storing its
            # position: store it now (the app closes its storage after its adapters), or the
            # next start would replay that batch.
            await self._position.save(self.since)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def describe(self) -> str:
        who = self.user_id or "(account asked at start)"
        return f"{self.settings.homeserver or '(no homeserver)'} as {who} [access token]"

    async def wait_synced(self, timeout: float | None = None, *, count: int = 1) -> None:
        """Wait until ``count`` sync answers were read since start (the first: state known,
        invitations seen); ``TimeoutError`` after ``timeout`` seconds."""
        await self._wait(lambda: self.syncs >= count, timeout)

    async def wait_failures(self, count: int, timeout: float | None = None) -> None:
        """Wait until ``count`` sync attempts in a row have failed (for health checks, tests)."""
        await self._wait(lambda: self.failures >= count, timeout)

    async def _wait(self, done: Callable[[], bool], timeout: float | None) -> None:
        async with asyncio.timeout(timeout):
            while not done():
                await self._progress.wait()

    def _pulse(self) -> None:
        self._progress.set()
        self._progress = asyncio.Event()

    def _ready_for(self, user_id: str) -> None:
        self.rooms = Rooms(user_id, by_member_count=self.settings.direct_by_member_count)
        app = self.app
        assert app is not None and self._client is not None
        self._reader = SyncReader(
            self.rooms, dispatch=self._dispatch, adapter=self, hidden=self._hidden()
        )
        storage = app.storage if self.settings.store_since else None
        self._position = Position(storage, user_id)

    def _hidden(self) -> tuple[str, ...]:
        token = self.settings.access_token
        return (token.get_secret_value(),) if token is not None else ()

    def _dispatch(self, event: Any) -> None:
        if self._running and self.app is not None:
            self.app.dispatch(event)

    async def _whoami(self) -> None:
        client = self._require_client()
        try:
            answer = await client.call("GET", f"{_CLIENT}/account/whoami", action="whoami")
        except ActionFailedError as exc:
            if exc.retcode in (401, 403):
                raise ConfigError(
                    f"the homeserver refused the access token (HTTP {exc.retcode}); "
                    "check WAITER_MATRIX__ACCESS_TOKEN"
                ) from None
            raise
        user_id = answer.get("user_id")
        if not isinstance(user_id, str) or not user_id.startswith("@"):
            raise AdapterConnectionError("the homeserver's whoami named no user_id")
        if self.settings.user_id and user_id != self.settings.user_id:
            raise ConfigError(
                f"the access token belongs to {user_id}, not to WAITER_MATRIX__USER_ID="
                f"{self.settings.user_id}; fix one of them"
            )
        self.user_id = user_id

    # --- the sync loop ---------------------------------------------------------------------

    async def _sync_forever(self) -> None:
        settings = self.settings
        first = True
        while self._running:
            try:
                await self._sync_once(first)
            except (AdapterError, EventError, ConfigError) as exc:
                if not self._running:
                    return  # stop() ended the pending /sync: not a failure worth a line
                # ConfigError: the token was refused after the start (revoked, say). Logged on
                # every attempt, so it cannot go unnoticed, and fixed tokens are picked up.
                self.failures += 1
                delay = backoff(self.failures, settings.reconnect_interval, settings.reconnect_max)
                log.warning("matrix: sync failed ({}); retrying in {:.2f} s", exc, delay)
                self._pulse()
                await asyncio.sleep(delay)
                continue
            first = False
            if self.failures:
                log.info("matrix: syncing again after {} failed attempts", self.failures)
            self.failures = 0
            self._pulse()

    async def _sync_once(self, first: bool) -> None:
        client = self._require_client()
        if self._reader is None:
            await self._whoami()
            self._ready_for(self.user_id)
        reader, position = self._reader, self._position
        assert reader is not None and position is not None
        settings = self.settings
        params: dict[str, str]
        backlog = False
        if first:
            if self.since is None:
                self.since = await position.load()
            if self.since is None:
                # The very first start: learn the rooms, answer nothing of their history.
                params = {"timeout": "0", "filter": _json(_first_filter())}
                backlog = True
            else:
                # A restart: everything since the stored position, and the full state of
                # every room (what a fresh process does not know yet).
                params = {
                    "since": self.since,
                    "timeout": "0",
                    "full_state": "true",
                    "filter": _json(_FILTER),
                }
        else:
            assert self.since is not None
            params = {
                "since": self.since,
                "timeout": str(int(settings.sync_timeout * 1000)),
                "filter": _json(_FILTER),
            }
        answer = await client.call(
            "GET",
            f"{_CLIENT}/sync",
            action="sync",
            params=params,
            timeout=settings.request_timeout + settings.sync_timeout,
        )
        batch = reader.read(answer, backlog=backlog)
        self._accept(batch.invites)
        self.since = batch.next_batch
        self.syncs += 1
        await position.save(batch.next_batch)
        if backlog:
            log.info("matrix: first sync as {}; earlier messages are not answered", self.user_id)

    def _accept(self, invites: list[Invite]) -> None:
        if not self.settings.auto_join:
            for invite in invites:
                log.info(
                    "matrix: invited to {} by {} (auto_join is off)", invite.room_id, invite.inviter
                )
            return
        for invite in invites:
            if invite.room_id not in self._joining:
                self._joining.add(invite.room_id)
                self.tasks.spawn(self._join(invite), name=f"matrix join {invite.room_id}")

    async def _join(self, invite: Invite) -> None:
        client = self._require_client()
        try:
            await client.call(
                "POST", f"{_CLIENT}/rooms/{_path(invite.room_id)}/join", action="join", body={}
            )
            log.info("matrix: joined {} (invited by {})", invite.room_id, invite.inviter)
            if invite.is_direct and invite.inviter is not None:
                await self._mark_direct(invite.inviter, invite.room_id)
        except AdapterError as exc:
            log.warning("matrix: cannot join {}: {}", invite.room_id, exc)
        finally:
            self._joining.discard(invite.room_id)

    async def _mark_direct(self, user_id: str, room_id: str) -> None:
        """Record a private room in the bot's ``m.direct``, so the next start knows it too."""
        if not self.rooms.add_direct(user_id, room_id):
            return
        client = self._require_client()
        try:
            await client.call(
                "PUT",
                f"{_CLIENT}/user/{_path(self.user_id)}/account_data/m.direct",
                action="set m.direct",
                body=self.rooms.direct,
            )
        except AdapterError as exc:
            log.warning("matrix: cannot record {} as a direct chat: {}", room_id, exc)

    # --- sending ---------------------------------------------------------------------------

    async def send(
        self, target: Target, chain: MessageChain, *, reply_to: str | None = None
    ) -> str:
        """Send ``chain`` to the room (group) or the private room of ``target``.

        Returns the id of the first event sent. A private target with no room yet gets one
        (created with ``is_direct``, the user invited). Raises ``AdapterConnectionError`` once
        the adapter stopped, ``ActionFailedError`` when the homeserver refuses, ``TypeError`` for
        a component Matrix cannot carry, ``ValueError`` for an empty message.
        """
        self._require_client()
        if target.group_id is not None:
            room_id = target.group_id
        else:
            assert target.user_id is not None
            room_id = await self._private_room(target.user_id)
        quoted = next((c.message_id for c in chain if isinstance(c, Reply)), reply_to)
        sender = self.rooms.sender_of(quoted) if quoted is not None else None
        parts = render(
            chain,
            reply_to=reply_to,
            msgtype="m.notice" if self.settings.notice else "m.text",
            also_mention=[sender] if sender is not None else [],
        )
        if not parts:
            raise ValueError("cannot send an empty message")
        first = ""
        for part in parts:
            content = await self._image_content(part) if isinstance(part, Upload) else part
            event_id = await self.send_event(room_id, "m.room.message", content)
            first = first or event_id
        return first

    async def send_event(self, room_id: str, event_type: str, content: dict[str, Any]) -> str:
        """Send one room event of any type; its event id. Retried under one transaction id."""
        client = self._require_client()
        txn = f"waiter-{uuid.uuid4().hex}"
        answer = await client.call(
            "PUT",
            f"{_CLIENT}/rooms/{_path(room_id)}/send/{_path(event_type)}/{txn}",
            action="send",
            body=content,
            transient=True,
        )
        event_id = answer.get("event_id")
        return event_id if isinstance(event_id, str) else ""

    async def _private_room(self, user_id: str) -> str:
        room_id = self.rooms.direct_room(user_id)
        if room_id is not None:
            return room_id
        # One creation per user at a time: two messages to a new user share one new room.
        lock = self._creating.setdefault(user_id, asyncio.Lock())
        try:
            async with lock:
                return await self._create_private_room(user_id)
        finally:
            # Nobody queued: drop the lock, so the dict does not grow with every user ever
            # written to. A later caller makes a new one and finds the room recorded.
            if not lock.locked() and self._creating.get(user_id) is lock:
                del self._creating[user_id]

    async def _create_private_room(self, user_id: str) -> str:
        room_id = self.rooms.direct_room(user_id)
        if room_id is not None:
            return room_id
        client = self._require_client()
        answer = await client.call(
            "POST",
            f"{_CLIENT}/createRoom",
            action="create a direct room",
            body={"is_direct": True, "invite": [user_id], "preset": "trusted_private_chat"},
        )
        room_id = answer.get("room_id")
        if not isinstance(room_id, str):
            raise ActionFailedError("create a direct room", None, "no room_id in the answer")
        self.rooms.room(room_id).joined.add(self.user_id)
        await self._mark_direct(user_id, room_id)
        self.rooms.spoke_privately(user_id, room_id)
        log.info("matrix: opened a direct room {} with {}", room_id, user_id)
        return room_id

    async def _image_content(self, upload: Upload) -> dict[str, Any]:
        image = upload.image
        mime: str | None = None
        size: int | None = None
        if image.file.startswith("mxc://"):
            uri, name = image.file, "image"
        else:
            data, name, mime = await self._image_bytes(image)
            client = self._require_client()
            answer = await client.call(
                "POST",
                "/_matrix/media/v3/upload",
                action="upload",
                params={"filename": name},
                data=data,
                content_type=mime,
            )
            found = answer.get("content_uri")
            if not isinstance(found, str):
                raise ActionFailedError("upload", None, "no content_uri in the answer")
            uri, size = found, len(data)
        content: dict[str, Any] = {"msgtype": "m.image", "body": name, "url": uri}
        info = {k: v for k, v in (("mimetype", mime), ("size", size)) if v is not None}
        if info:
            content["info"] = info
        if upload.relates is not None:
            content["m.relates_to"] = upload.relates
        return content

    async def _image_bytes(self, image: Image) -> tuple[bytes, str, str]:
        """The bytes of an image given by URL, ``base64://``, ``data:`` URI or local path."""
        file = image.file
        limit = self.settings.max_media_size
        lowered = file[:16].lower()
        if lowered.startswith(("http://", "https://")):
            assert self._session is not None
            try:
                async with asyncio.timeout(self.settings.request_timeout):
                    async with self._session.get(file) as response:
                        response.raise_for_status()
                        data = await response.content.read(limit + 1)
                        mime = response.content_type
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise AdapterConnectionError(f"cannot fetch the image to send ({exc})") from None
            name = Path(unquote(urlsplit(file).path)).name or "image"
        elif lowered.startswith(("base64://", "data:")):
            encoded = file.split(",", 1)[1] if lowered.startswith("data:") else file[9:]
            try:
                data = base64.b64decode(encoded, validate=False)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"an Image's base64 data is not valid ({exc})") from None
            name, mime = "image", ""
        else:
            path = Path(unquote(urlsplit(file).path) if lowered.startswith("file://") else file)
            try:
                data = await asyncio.to_thread(_read_at_most, path, limit + 1)
            except OSError as exc:
                raise ValueError(f"cannot read the image {path} ({exc.strerror})") from None
            name, mime = path.name, mimetypes.guess_type(path.name)[0] or ""
        if len(data) > limit:
            raise ValueError(f"an image over {limit} bytes (WAITER_MATRIX__MAX_MEDIA_SIZE)")
        return data, name, mime or _sniff(data)

    def _require_client(self) -> Client:
        client = self._client
        if client is None or client.closed or not self._running:
            raise AdapterConnectionError("the Matrix adapter is not running")
        return client


def _read_at_most(path: Path, size: int) -> bytes:
    with path.open("rb") as file:
        return file.read(size)


def _sniff(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _check(settings: MatrixSettings) -> None:
    problems = []
    if not settings.homeserver:
        problems.append("WAITER_MATRIX__HOMESERVER is empty; give the homeserver's URL")
    if settings.access_token is None:
        problems.append("WAITER_MATRIX__ACCESS_TOKEN is empty; give the bot account's token")
    if problems:
        raise ConfigError("invalid Matrix settings: " + "; ".join(problems))
