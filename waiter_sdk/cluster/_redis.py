"""What the cluster's Redis clients share: naming the server and explaining its failures.

Ownership and delivery each raise their own error class (a caller tells a session that could
not open apart from an event that could not be read or sent), but both must name the server the
same way and never echo its password.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from redis import exceptions as redis_errors
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

__all__ = ["Guard", "connect", "describe_client", "explain", "secrets_of"]


def connect(url: str, timeout: float = 5.0) -> Redis:
    """A client for the cluster's Redis as every part of it uses one: a plain pool, no silent
    retry (a command whose answer was lost may have been applied: a claim sent again would
    find its own claim), bytes back (payloads are bytes).

    ``timeout`` bounds connecting and each answer; it must exceed the blocking reads' wait.
    """
    pool = ConnectionPool.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
    return Redis.from_pool(pool)


class Guard:
    """Every call of one cluster part: a bounded number at once, and a Redis failure turned
    into ``error`` naming the server (never its password).

    Usage: ``async with self._guard("claim session key k") as client: ...``
    """

    __slots__ = ("client", "describe", "error", "secrets", "slots")

    def __init__(
        self, client: Redis, describe: str | None, max_calls: int, error: type[Exception]
    ) -> None:
        self.client = client
        # Ours, not a BlockingConnectionPool: with thousands of callers waiting, its shared
        # condition lock made every call several times slower (see storage/redis.py).
        self.slots = asyncio.Semaphore(max_calls)
        self.describe = describe if describe is not None else describe_client(client)
        self.secrets = secrets_of(client)
        self.error = error

    @contextlib.asynccontextmanager
    async def __call__(self, doing: str) -> AsyncIterator[Redis]:
        await self.slots.acquire()
        try:
            yield self.client
        except (redis_errors.RedisError, OSError) as exc:
            raise self.error(explain(exc, self.describe, self.secrets, doing)) from exc
        finally:
            self.slots.release()


def describe_client(client: Redis) -> str:
    """The server as error messages name it: its socket or host and port, and the database."""
    kwargs = client.connection_pool.connection_kwargs
    if kwargs.get("path"):
        return f"Redis at unix:{kwargs['path']} db {kwargs.get('db', 0)}"
    host, port = kwargs.get("host", "localhost"), kwargs.get("port", 6379)
    return f"Redis at {host}:{port}/{kwargs.get('db', 0)}"


def secrets_of(client: Redis) -> set[str]:
    """The password, kept only to scrub it from a driver message that might echo it.

    A password of a few letters is left alone, as replacing it would garble the message's own
    words.
    """
    password = client.connection_pool.connection_kwargs.get("password")
    return {password} if isinstance(password, str) and len(password) >= 4 else set()


def explain(exc: BaseException, describe: str, secrets: set[str], doing: str) -> str:
    """One sentence: which server, what we were doing, what went wrong and what to do."""
    text = str(exc)
    for secret in secrets:
        text = text.replace(secret, "***")
    if isinstance(
        exc,
        redis_errors.AuthenticationError
        | redis_errors.AuthenticationWrongNumberOfArgsError
        | redis_errors.AuthorizationError
        | redis_errors.NoPermissionError,
    ):
        hint = f"authentication failed or was refused ({text}); check the user and password"
    elif isinstance(exc, redis_errors.TimeoutError | TimeoutError):
        # Before OSError: the built-in TimeoutError is one.
        hint = f"the server did not answer in time ({text})"
    elif isinstance(exc, redis_errors.ConnectionError | OSError):
        hint = (
            f"the server is unreachable or dropped the connection ({text}); start it or "
            "correct the address (the next call connects again)"
        )
    elif isinstance(exc, redis_errors.ReadOnlyError):
        hint = "the server is a read-only replica; point the address at the primary"
    else:
        hint = f"the server refused it: {text}"
    return f"{describe}: could not {doing}: {hint}"
