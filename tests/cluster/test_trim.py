"""Trimming streams: acknowledged entries go, pending and unread ones stay."""

from __future__ import annotations

from collections.abc import Callable

from redis.asyncio import Redis

from waiter_sdk.cluster.delivery import Inbox, Outbox, worker_stream
from waiter_sdk.cluster.trim import Trimmer


async def test_only_what_the_group_acknowledged_is_trimmed(
    clients: Callable[..., Redis], raw: Redis
) -> None:
    client = clients()
    stream = worker_stream("w1")
    out = Outbox(client)
    inbox = Inbox(client, "w1", [stream])
    await inbox.ensure_groups()
    for i in range(10):
        await out.send(stream, f"e{i}".encode())
    read = await inbox.read(count=6)  # entries 0..5 read; 6..9 unread
    assert [d.payload for d in read] == [f"e{i}".encode() for i in range(6)]
    await inbox.ack_many(read[:2] + read[3:])  # entry 2 stays pending
    trimmer = Trimmer(client)
    assert await trimmer.trim([stream], "workers") == 2  # e0, e1: before the oldest pending
    left = [fields["payload"] for _, fields in await raw.xrange(stream)]
    assert left == [f"e{i}" for i in range(2, 10)]

    await inbox.ack(read[2])
    assert await trimmer.trim([stream], "workers") == 3  # up to the last delivered, e5
    rest = await inbox.read(count=10)
    assert [d.payload for d in rest] == [f"e{i}".encode() for i in range(6, 10)]
    left = [fields["payload"] for _, fields in await raw.xrange(stream)]
    assert left == [f"e{i}" for i in range(5, 10)]  # unread then, so kept; now pending


async def test_a_stream_without_the_group_is_left_alone(
    clients: Callable[..., Redis], raw: Redis
) -> None:
    client = clients()
    await Outbox(client).send("waiter:in:lonely", b"x")
    trimmer = Trimmer(client)
    assert await trimmer.trim(["waiter:in:lonely", "waiter:in:missing"], "workers") == 0
    assert await raw.xlen("waiter:in:lonely") == 1
    assert await trimmer.trim([], "workers") == 0
