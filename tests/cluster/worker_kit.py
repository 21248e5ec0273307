"""What the worker tests play themselves: the ingress's two roles, and polling.

``FakeIngress`` carries out the workers' sends as the real ingress does (reads ``waiter:out``
in the ``ingress`` group, answers each with a ``result`` on the sender's stream) and records
them. ``route`` places an event where the ingress would: the live owners of its routes, in
route order (the first gets it, the rest go in ``try``), else its chat's shard stream.
``until`` polls a condition in a bounded loop; the bound only keeps a broken test from hanging.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from waiter_sdk import MessageChain, MessageEvent
from waiter_sdk.cluster import codec
from waiter_sdk.cluster.delivery import shard_for, shared_stream, worker_stream
from waiter_sdk.cluster.layout import (
    INGRESS_GROUP,
    OUT_STREAM,
    chat_key,
    event_routes,
    results_stream,
    route_key,
)
from waiter_sdk.config import Settings

PLATFORM, BOT = "onebot11", "10001"
_ids = itertools.count(1)


def settings_for(url: str, **cluster: object) -> Settings:
    values: dict[str, object] = {
        "redis": url,
        "heartbeat": 0.1,
        "dead_after": 0.6,
        "ownership_ttl": 5.0,
        "send_timeout": 5.0,
        "shards": 4,
    }
    values.update(cluster)
    return Settings(cluster=values, storage="memory")


def message(
    text: str, sender: str, group: str | None = None, *, message_id: str | None = None
) -> MessageEvent:
    return MessageEvent(
        platform=PLATFORM,
        self_id=BOT,
        message=MessageChain([text]),
        message_id=message_id or f"m{next(_ids)}",
        sender_id=sender,
        sender_name=sender,
        group_id=group,
    )


async def until(condition: Callable[[], bool | Awaitable[bool]], what: str = "") -> None:
    """Poll ``condition`` until it holds; fail after 15 s (a broken test, not a timing).

    A connection error of the test's own client counts as "not yet" (the server restarts in
    one test and each pooled connection finds out once)."""
    try:
        async with asyncio.timeout(15):
            while True:
                try:
                    result = condition()
                    if not isinstance(result, bool):
                        result = await result
                except redis_errors.ConnectionError:
                    result = False  # the test's own client, after a server restart
                if result:
                    return
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"never happened: {what or condition}") from None


async def push(
    client: Redis, stream: str, event: MessageEvent, tries: list[str] | None = None
) -> None:
    payload = codec.encode_event(event, ledger_key=codec.ledger_key(event), tries=tries or ())
    await client.xadd(stream, {"payload": payload})


def shard_stream_of(event: MessageEvent, shards: int = 4) -> str:
    chat = chat_key(event.platform, event.self_id, event.group_id, event.sender_id)
    return shared_stream(shard_for(chat, shards))


async def owners(client: Redis, event: MessageEvent) -> list[str]:
    """The candidates the ingress would find: route owners with a count, in route order."""
    found: list[str] = []
    for route in event_routes(event):
        held = await client.hgetall(route_key(route))
        for worker, count in sorted(held.items()):
            name = worker.decode() if isinstance(worker, bytes) else worker
            if int(count) > 0 and name not in found:
                found.append(name)
    return found


async def route(client: Redis, event: MessageEvent, shards: int = 4) -> str:
    """Send ``event`` where the ingress would; the stream it went to."""
    candidates = await owners(client, event)
    if candidates:
        stream = worker_stream(candidates[0])
        await push(client, stream, event, candidates[1:])
        return stream
    stream = shard_stream_of(event, shards)
    await push(client, stream, event)
    return stream


@dataclass
class Sent:
    worker: str
    group_id: str | None
    user_id: str | None
    text: str
    message_id: str


class FakeIngress:
    """The ingress's send role: every ``send`` answered with a fresh message id."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self.sent: list[Sent] = []
        self._ids = itertools.count(9000)

    def texts(self, worker: str | None = None) -> list[str]:
        return [s.text for s in self.sent if worker is None or s.worker == worker]

    async def run(self) -> None:
        while True:
            try:
                await self._serve()
            except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError):
                await asyncio.sleep(0.05)  # the server restarts in one test; read again
            except redis_errors.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise

    async def _serve(self) -> None:
        try:
            await self.client.xgroup_create(OUT_STREAM, INGRESS_GROUP, id="0", mkstream=True)
        except redis_errors.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        while True:
            reply = await self.client.xreadgroup(
                INGRESS_GROUP, "ingress", {OUT_STREAM: ">"}, count=100, block=50
            )
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    envelope = codec.decode(fields[b"payload"])
                    rid, worker, target, chain, _ = codec.send_of(envelope)
                    message_id = str(next(self._ids))
                    self.sent.append(
                        Sent(worker, target.group_id, target.user_id, chain.plain_text, message_id)
                    )
                    result = codec.encode_result(rid, message_id)
                    await self.client.xadd(results_stream(worker), {"payload": result})
                    await self.client.xack(OUT_STREAM, INGRESS_GROUP, entry_id)
