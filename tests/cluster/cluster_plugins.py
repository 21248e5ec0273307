"""Plugins the worker processes of tests/cluster/test_processes.py load.

Each reply names the worker that made it (``WAITER_CLUSTER__WORKER_ID``), so the tests can see
where a conversation ran. ``n <anything>`` records its message id in the Redis hash
``test:handled`` (the exactly-once count of the 50,000-message test).
"""

from __future__ import annotations

import os

from redis.asyncio import BlockingConnectionPool, Redis

from waiter_sdk import (
    MessageEvent,
    Plugin,
    SessionBusyError,
    SessionController,
    UserSessionFilter,
    command,
    session_waiter,
)

WORKER = os.environ.get("WAITER_CLUSTER__WORKER_ID", "?")


class Where(Plugin):
    """``/where``: which worker handled this message."""

    name = "where"

    @command("where")
    async def where(self, event: MessageEvent) -> None:
        await event.send(f"{WORKER} here")


class Echo(Plugin):
    """``/cecho``: a session of the sender in this chat that repeats, until ``q``."""

    name = "echo_cluster"

    @command("cecho")
    async def echo(self, event: MessageEvent) -> None:
        @session_waiter(timeout=120)
        async def repeat(controller: SessionController, reply: MessageEvent) -> None:
            if reply.message_str == "q":
                await reply.send(f"{WORKER} echo off")
                controller.stop()
                return
            await reply.send(f"{WORKER} echo: {reply.message_str}")
            controller.keep(timeout=120)

        await event.send(f"{WORKER} echo on")
        await repeat(event)


class Relay(Plugin):
    """``/relay``: a session of the sender in every chat (UserSessionFilter), until ``q``."""

    name = "relay"

    @command("relay")
    async def relay(self, event: MessageEvent) -> None:
        @session_waiter(timeout=120)
        async def take(controller: SessionController, reply: MessageEvent) -> None:
            if reply.message_str == "q":
                await reply.send(f"{WORKER} relay off")
                controller.stop()
                return
            where = f"g{reply.group_id}" if reply.group_id else "private"
            await reply.send(f"{WORKER} relay from {where}: {reply.message_str}")
            controller.keep(timeout=120)

        try:
            # The prompt is sent before the session opens here on purpose: a busy key must
            # be found by the claim, not hidden by a send that already went out.
            await take(event, session_filter=UserSessionFilter())
        except SessionBusyError as busy:
            await event.send(f"{WORKER} busy: {busy}")


class Count(Plugin):
    """``n <anything>``: count this message id once in Redis (``HINCRBY test:handled``)."""

    name = "count"

    def __init__(self) -> None:
        self._redis: Redis | None = None

    async def on_load(self) -> None:
        # A bounded pool: a burst of handlers waits for a connection instead of opening one
        # each (redis-py refuses past its limit).
        pool = BlockingConnectionPool.from_url(
            os.environ["WAITER_CLUSTER__REDIS"], max_connections=16, timeout=30
        )
        self._redis = Redis.from_pool(pool)

    async def on_unload(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    @command("n")
    async def count(self, event: MessageEvent) -> None:
        assert self._redis is not None
        await self._redis.hincrby("test:handled", event.message_id, 1)
