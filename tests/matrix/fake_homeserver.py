"""A tiny scripted homeserver (aiohttp) for what a real Synapse will not do on demand.

It answers ``whoami``, serves ``/sync`` answers that a test queues (a long poll waits for the
next one), and records message ``PUT``s, answering them as the test scripts: a status with a
body and headers (a 429 with ``retry_after_ms`` or ``Retry-After``, a 500), or no answer at
all (``hang``). The same transaction id gets the same event id, as on a real homeserver.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.redis_kit import free_port

USER = "@bot:fake.test"
TOKEN = "syt_fake_SECRET_token_41d9"


@dataclass
class Scripted:
    """One scripted answer: status, JSON body (or raw bytes) and headers."""

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


class FakeHomeserver:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.syncs: asyncio.Queue[Scripted] = asyncio.Queue()
        self.sync_params: list[dict[str, str]] = []
        self.send_script: list[Scripted] = []  # consumed one per PUT, then 200s
        self.sent: list[tuple[str, str, dict[str, Any]]] = []  # (room, txn, content) per PUT
        self.sent_changed = asyncio.Event()
        self.auth_seen: list[str] = []
        self.joins: list[str] = []
        self.account_data: dict[str, Any] = {}
        self.changed = asyncio.Event()  # set on every join and account data write
        self._events: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._batch = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._hanging: list[asyncio.Future[None]] = []
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/_matrix/client/v3/account/whoami", self._whoami)
        app.router.add_get("/_matrix/client/v3/sync", self._sync)
        app.router.add_put("/_matrix/client/v3/rooms/{room}/send/{type}/{txn}", self._send)
        app.router.add_post("/_matrix/client/v3/rooms/{room}/join", self._join)
        app.router.add_put("/_matrix/client/v3/user/{user}/account_data/{type}", self._account_data)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        self._stopped.set()
        for future in self._hanging:
            if not future.done():
                future.set_result(None)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- scripting -----------------------------------------------------------------------------

    def queue_sync(self, rooms: dict[str, Any] | None = None, **extra: Any) -> str:
        """Queue a sync answer; returns its next_batch token."""
        token = f"t{next(self._batch)}"
        body = {"next_batch": token, **extra}
        if rooms is not None:
            body["rooms"] = rooms
        self.syncs.put_nowait(Scripted(body=body))
        return token

    def queue_sync_answer(self, answer: Scripted) -> None:
        self.syncs.put_nowait(answer)

    async def wait_sent(self, count: int, within: float = 10.0) -> None:
        async with asyncio.timeout(within):
            while len(self.sent) < count:
                await self.sent_changed.wait()
                self.sent_changed.clear()

    # --- handlers ------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        self.auth_seen.append(request.headers.get("Authorization", ""))
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    async def _whoami(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"errcode": "M_UNKNOWN_TOKEN", "error": "bad"}, status=401)
        return web.json_response({"user_id": USER})

    async def _sync(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.json_response({"errcode": "M_UNKNOWN_TOKEN", "error": "bad"}, status=401)
        self.sync_params.append(dict(request.query))
        timeout = int(request.query.get("timeout", "0")) / 1000
        if self.syncs.empty() and timeout > 0:
            # A long poll: until something is queued, the timeout passes or the fake stops.
            getter = asyncio.ensure_future(self.syncs.get())
            stopped = asyncio.ensure_future(self._stopped.wait())
            try:
                await asyncio.wait(
                    {getter, stopped}, timeout=timeout, return_when="FIRST_COMPLETED"
                )
            finally:
                stopped.cancel()
                if not getter.done():
                    getter.cancel()
            if getter.done() and not getter.cancelled():
                return await self._answer(getter.result())
        elif not self.syncs.empty():
            return await self._answer(self.syncs.get_nowait())
        return web.json_response({"next_batch": request.query.get("since", "t0")})

    async def _send(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.json_response({"errcode": "M_UNKNOWN_TOKEN", "error": "bad"}, status=401)
        room, txn = request.match_info["room"], request.match_info["txn"]
        content = await request.json()
        self.sent.append((room, txn, content))
        self.sent_changed.set()
        if self.send_script:
            return await self._answer(self.send_script.pop(0))
        event_id = self._events.get(txn)
        if event_id is None:
            event_id = self._events[txn] = f"$ev{next(self._ids)}"
        return web.json_response({"event_id": event_id})

    async def _join(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"errcode": "M_UNKNOWN_TOKEN", "error": "bad"}, status=401)
        self.joins.append(request.match_info["room"])
        self.changed.set()
        return web.json_response({"room_id": request.match_info["room"]})

    async def _account_data(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"errcode": "M_UNKNOWN_TOKEN", "error": "bad"}, status=401)
        self.account_data[request.match_info["type"]] = await request.json()
        self.changed.set()
        return web.json_response({})

    async def _answer(self, answer: Scripted) -> web.StreamResponse:
        if answer.hang:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._hanging.append(future)
            await future
        if answer.raw is not None:
            return web.Response(status=answer.status, body=answer.raw, headers=answer.headers)
        return web.json_response(answer.body or {}, status=answer.status, headers=answer.headers)


# --- building sync answers ------------------------------------------------------------------------


def member(user: str, name: str | None = None, membership: str = "join") -> dict[str, Any]:
    content: dict[str, Any] = {"membership": membership}
    if name is not None:
        content["displayname"] = name
    return {"type": "m.room.member", "state_key": user, "sender": user, "content": content}


def text(event_id: str, sender: str, body: str, **content: Any) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "event_id": event_id,
        "sender": sender,
        "origin_server_ts": 1_700_000_000_000,
        "content": {"msgtype": "m.text", "body": body, **content},
    }


def joined(
    timeline: list[Any], members: tuple[str, ...] = (USER, "@ann:fake.test", "@ben:fake.test")
) -> dict[str, Any]:
    """A joined room's sync entry: these members (a group of three by default), this timeline."""
    return {
        "state": {"events": [member(user) for user in members]},
        "timeline": {"events": timeline, "limited": False},
    }
