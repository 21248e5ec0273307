"""A virtual chat platform behind the real satori-python server, run as a child process.

Usage (the test kit starts it; see ``peer_kit.py``)::

    python tests/satori_adapter/peer.py --port 5140 --token s3cret

The server is satori-python's own ``satori.server.Server`` (PyPI ``satori-python-server``):
its event WebSocket, IDENTIFY check, PING/PONG, event cache and resume, and HTTP API routing
are the real thing. What it serves is ``VirtualPlatform``, an adapter of its Adapter API with
two logins (platform ``alpha`` as ``bot-a`` and platform ``beta`` as ``bot-b``) that invents no
traffic of its own: tests inject incoming messages and read what the bot sent, over a small
control API on the same server, under ``/_peer/``:

* ``POST /_peer/inject``: one incoming event (a message by default) from a user in a channel,
  posted through ``server.post`` like a real platform's; answers its ``sn`` and message id.
* ``GET /_peer/sent?after=N&wait=S``: what the bot sent with ``message.create`` after the first
  N records, waiting up to S seconds for at least one (a condition, not a poll).
* ``POST /_peer/drop`` (``{"hold": true}``): close every event WebSocket from the server side;
  with ``hold``, new connections wait until ``POST /_peer/release``.
* ``POST /_peer/resend``: send cached events again, as a server that replays too much does.
* ``POST /_peer/raw``: send a raw text frame to every event WebSocket (hostile frames).
* ``GET /_peer/connections?count=N&wait=S``: wait until exactly N sockets are open.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
from datetime import datetime
from typing import Any

from launart import Launart
from satori import Api
from satori.model import Channel, ChannelType, Event, Guild, Login, Member, MessageObject, User
from satori.server import Adapter, Request, Server
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response

LOGINS = {"alpha": "bot-a", "beta": "bot-b"}


class VirtualPlatform(Adapter[None]):
    """Two bot logins on two made-up platforms; records every message.create it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[dict[str, Any]] = []
        self.changed = asyncio.Condition()
        # Ids unique across restarts of this process, as a real platform's are.
        self._ids = (f"m{os.getpid()}-{n}" for n in itertools.count(1))
        self.route(Api.MESSAGE_CREATE)(self._message_create)
        self.route(Api.USER_CHANNEL_CREATE)(self._user_channel_create)

    # --- the Adapter API -----------------------------------------------------------------------

    def get_platform(self) -> str:
        return "virtual"

    def ensure(self, platform: str, self_id: str) -> bool:
        # The server routes an API call here only for a login this platform serves: a request
        # with the wrong Satori-Platform / Satori-User-ID gets the server's own 404.
        return LOGINS.get(platform) == self_id

    async def handle_internal(self, request: Request, path: str) -> Response:
        return Response(status_code=404)

    async def get_logins(self) -> list[Login]:
        return [
            Login(sn=n, platform=p, user=User(id=u, name=f"Bot {p}"), adapter="virtual")
            for n, (p, u) in enumerate(LOGINS.items())
        ]

    @property
    def required(self) -> set[str]:
        return set()

    @property
    def stages(self) -> set[str]:  # type: ignore[override]
        return {"preparing", "blocking", "cleanup"}

    async def launch(self, manager: Launart) -> None:
        async with self.stage("preparing"):
            pass
        async with self.stage("blocking"):
            await manager.status.wait_for_sigexit()
        async with self.stage("cleanup"):
            pass

    # --- routes ------------------------------------------------------------------------------

    async def _message_create(self, request: Request[Any]) -> list[dict[str, Any]]:
        params = request.params
        message_id = next(self._ids)
        record = {
            "platform": request.platform,
            "self_id": request.self_id,
            "channel_id": params.get("channel_id"),
            "content": params.get("content"),
            "message_id": message_id,
            "authorization": request.origin.headers.get("authorization"),
            "content_type": request.origin.headers.get("content-type"),
        }
        async with self.changed:
            self.sent.append(record)
            self.changed.notify_all()
        return [{"id": message_id, "content": params.get("content", "")}]

    async def _user_channel_create(self, request: Request[Any]) -> dict[str, Any]:
        user_id = request.params.get("user_id")
        return {"id": f"private:{user_id}", "type": ChannelType.DIRECT.value}

    # --- injected events ---------------------------------------------------------------------

    def event(self, spec: dict[str, Any]) -> Event:
        platform = spec.get("login", "alpha")
        channel = spec["channel"]
        user = spec["user"]
        direct = channel.get("type", 0) == ChannelType.DIRECT.value
        content = spec.get("content", "")
        message_id = spec.get("message_id") or next(self._ids)
        return Event(
            type=spec.get("type", "message-created"),
            timestamp=datetime.now(),
            login=Login(platform=platform, user=User(id=LOGINS[platform]), adapter="virtual"),
            channel=Channel(
                id=channel["id"],
                type=ChannelType(channel.get("type", 0)),
                name=channel.get("name"),
            ),
            guild=None if direct else Guild(id=spec.get("guild", channel["id"])),
            user=User(id=user["id"], name=user.get("name")),
            member=None
            if direct
            else Member(nick=user.get("nick"), roles=[_role(r) for r in user.get("roles", [])]),
            message=MessageObject(id=message_id, content=content),
        )


def _role(name: str) -> Any:
    from satori.model import Role

    return Role(id=name, name=name)


def build(port: int, token: str | None) -> Server:
    server = Server(host="127.0.0.1", port=port, token=token)
    platform = VirtualPlatform()
    server.apply(platform)
    holding = asyncio.Event()
    holding.set()  # set: connections pass; cleared by /_peer/drop with hold

    original = server.websocket_server_handler

    async def gated_handler(ws: Any) -> None:
        # A held connection waits here, before the handshake completes, until released.
        await holding.wait()
        await original(ws)

    server.websocket_server_handler = gated_handler  # type: ignore[method-assign]

    def alive() -> list[Any]:
        return [c for c in server.connections if c.alive]

    @server.asgi_route("/_peer/health", methods=["GET"])
    async def health(request: HttpRequest) -> Response:
        return JSONResponse({"pid": os.getpid()})

    @server.asgi_route("/_peer/inject", methods=["POST"])
    async def inject(request: HttpRequest) -> Response:
        event = platform.event(await request.json())
        await server.post(event)
        assert event.message is not None
        return JSONResponse({"sn": event.sn, "message_id": event.message.id})

    @server.asgi_route("/_peer/sent", methods=["GET"])
    async def sent(request: HttpRequest) -> Response:
        after = int(request.query_params.get("after", "0"))
        wait = float(request.query_params.get("wait", "0"))
        async with platform.changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    platform.changed.wait_for(lambda: len(platform.sent) > after), wait
                )
            return JSONResponse(platform.sent[after:])

    @server.asgi_route("/_peer/drop", methods=["POST"])
    async def drop(request: HttpRequest) -> Response:
        body = await request.json()
        if body.get("hold"):
            holding.clear()
        dropped = 0
        for connection in alive():
            await connection.connection.close(code=1012)  # 1012: service restart
            await connection.connection_closed()
            dropped += 1
        return JSONResponse({"dropped": dropped})

    @server.asgi_route("/_peer/release", methods=["POST"])
    async def release(request: HttpRequest) -> Response:
        holding.set()
        return JSONResponse({})

    @server.asgi_route("/_peer/resend", methods=["POST"])
    async def resend(request: HttpRequest) -> Response:
        # Every cached event with sn >= 'from' again, to every socket: an over-eager replay.
        first = (await request.json())["from"]
        events = [e for e in list(server._event_cache.data) if e.sn >= first]
        for connection in alive():
            for event in events:
                await connection.send({"op": 0, "body": event.dump()})
        return JSONResponse({"resent": len(events)})

    @server.asgi_route("/_peer/raw", methods=["POST"])
    async def raw(request: HttpRequest) -> Response:
        frame = (await request.body()).decode("utf-8", "surrogatepass")
        for connection in alive():
            await connection.connection.send_text(frame)
        return JSONResponse({"sockets": len(alive())})

    @server.asgi_route("/_peer/connections", methods=["GET"])
    async def connections(request: HttpRequest) -> Response:
        count = int(request.query_params.get("count", "1"))
        wait = float(request.query_params.get("wait", "0"))
        loop = asyncio.get_running_loop()
        give_up = loop.time() + wait
        # The server lists a socket a moment after READY and forgets it a moment after it
        # closes, with nothing to wait on: look again each few milliseconds, boundedly.
        while len(alive()) != count and loop.time() < give_up:
            await asyncio.sleep(0.005)
        return JSONResponse({"count": len(alive())})

    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", default=None)
    args = parser.parse_args()
    build(args.port, args.token).run()


if __name__ == "__main__":
    main()
