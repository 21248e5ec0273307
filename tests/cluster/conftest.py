"""Fixtures of the cluster suite: clients on a fresh database of the real redis-server.

Every "worker" gets a client of its own (its own pool), so their commands interleave at the
server as separate processes' would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from tests.redis_kit import RedisServer

try:
    from redis.asyncio import ConnectionPool, Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
except ImportError:  # _needs_redis skips every test, or fails it under CI=true, saying why
    pass


@pytest.fixture(autouse=True)
def _needs_redis(redis_server: RedisServer) -> None:
    """redis-server and redis-py, or the kit's skip (a failure under CI=true)."""


def make_client(url: str, timeout: float = 5.0, **options: object) -> Redis:
    """A client as a worker builds it: a plain pool, no silent retry, bytes back."""
    pool = ConnectionPool.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        **options,
    )
    return Redis.from_pool(pool)


@pytest.fixture
async def clients(redis_server: RedisServer) -> AsyncIterator[Callable[..., Redis]]:
    """Makes clients on this test's database, and closes them all afterwards."""
    url = redis_server.url()
    made: list[Redis] = []

    def make(**options: object) -> Redis:
        made.append(make_client(url, **options))
        return made[-1]

    try:
        yield make
    finally:
        for client in made:
            await client.aclose()


@pytest.fixture
def raw(clients: Callable[..., Redis]) -> Redis:
    """A plain client on the same database, to see what the workers left in Redis."""
    return clients(decode_responses=True)
