"""``RedisBackend``: records as Redis hashes, through redis-py's asyncio client.

Usage::

    pip install 'waiter-sdk[redis]'
    WAITER_STORAGE=redis://:password@host:6379/0 waiter-sdk run

Layout (for operators reading the database)::

    waiter:<scope>:<plugin>:<owner>     hash   field -> JSON text (counters: integer text)
    waiter:owners:<scope>:<plugin>      set    owners that have a record
    waiter:schema:<scope>:<plugin>      hash   field -> type name

``<plugin>`` and ``<owner>`` are percent-escaped (``%`` and ``:`` only), so every key splits
back into exactly its parts and no id can name another owner's key. The scopes are ``user``,
``channel`` and ``kv``, never ``owners`` or ``schema``, so the three families cannot meet.

Every write is one Lua script (one round trip, atomic in Redis). A Redis that goes away does
not stop the bot: each call raises ``StorageError`` naming ``WAITER_STORAGE``, and redis-py
connects again on the next call, so a restarted server is used without restarting the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
from redis import exceptions as redis_errors
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript

from ..exceptions import StorageError, StoredValueError
from .address import redact_url
from .backend import Backend, Bucket, Scope

__all__ = ["RedisBackend"]

# A bot fans out (one broadcast reaches thousands of users at once); without a bound each
# concurrent call would open a socket of its own, past the process's file limit. Calls beyond
# it wait their turn for a free connection, in a semaphore of ours: redis-py's
# BlockingConnectionPool makes every waiter contend for one condition lock, and with 5,000
# calls waiting it ran 4 times slower per call than with 100 (measured in bench/storage.py).
_MAX_CONNECTIONS = 50
# drop_field / rename_field touch this many records per script, so one script never holds
# Redis (single-threaded) for long while a bot with many users is being migrated.
_BATCH = 500

# KEYS: record hash, owners set. ARGV: owner, n, n (field, JSON) pairs, then
# (field, delta, default) triples. Returns {1, new counter text...} or {0, field, reason}.
# A Lua script that fails halfway keeps what it already wrote, so every counter is checked
# before anything changes, and an increment Redis still refuses (out of the 64-bit range)
# puts back the counters already touched. New values are returned as HGET text, because a
# Lua number is a double and would round a counter past 2**53.
_WRITE = """
local record = KEYS[1]
local n = tonumber(ARGV[2])
local first = 3 + 2 * n
local held = {}
for i = first, #ARGV, 3 do
  local raw = redis.call('HGET', record, ARGV[i])
  if raw and raw ~= '0' and not string.match(raw, '^%-?[1-9]%d*$') then
    return {0, ARGV[i], 'type'}
  end
  held[#held + 1] = raw
end
local counted = {1}
local k = 0
for i = first, #ARGV, 3 do
  k = k + 1
  local field = ARGV[i]
  if not held[k] then
    redis.call('HSET', record, field, ARGV[i + 2])
  end
  local done = redis.pcall('HINCRBY', record, field, ARGV[i + 1])
  if type(done) == 'table' and done.err then
    local j = 0
    for m = first, i, 3 do
      j = j + 1
      if held[j] then
        redis.call('HSET', record, ARGV[m], held[j])
      else
        redis.call('HDEL', record, ARGV[m])
      end
    end
    return {0, field, done.err}
  end
  counted[#counted + 1] = redis.call('HGET', record, field)
end
for i = 3, first - 1, 2 do
  redis.call('HSET', record, ARGV[i], ARGV[i + 1])
end
if first <= #ARGV or n > 0 then
  redis.call('SADD', KEYS[2], ARGV[1])
end
return counted
"""

# KEYS: record hash, owners set. ARGV: owner, fields. An emptied record leaves the owners set,
# as its hash has left Redis.
_DELETE = """
local removed = 0
for i = 2, #ARGV do
  removed = removed + redis.call('HDEL', KEYS[1], ARGV[i])
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[1])
end
return removed
"""

# KEYS: owners set, then record hashes. ARGV: field, then the owner of each record hash.
_DROP = """
local held = 0
for i = 2, #KEYS do
  if redis.call('HDEL', KEYS[i], ARGV[1]) == 1 then
    held = held + 1
    if redis.call('EXISTS', KEYS[i]) == 0 then
      redis.call('SREM', KEYS[1], ARGV[i])
    end
  end
end
return held
"""

# KEYS: record hashes (or the schema hash). ARGV: old, new. Counts a record that holds ``old``
# even when old == new, as the other backends do.
_RENAME = """
local held = 0
for i = 1, #KEYS do
  local value = redis.call('HGET', KEYS[i], ARGV[1])
  if value then
    held = held + 1
    if ARGV[1] ~= ARGV[2] then
      redis.call('HSET', KEYS[i], ARGV[2], value)
      redis.call('HDEL', KEYS[i], ARGV[1])
    end
  end
end
return held
"""


def _escape(part: str) -> str:
    return part.replace("%", "%25").replace(":", "%3A")


def _glob_escape(text: str) -> str:
    # SSCAN MATCH is a glob: an owner prefix holding '*' or '[' must match only itself.
    return "".join("\\" + c if c in "\\*?[]" else c for c in text)


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


class RedisBackend(Backend):
    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self.describe = redact_url(url)
        self._client: Redis | None = None
        self._slots = asyncio.Semaphore(_MAX_CONNECTIONS)
        self._scripts: dict[str, AsyncScript] = {}
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        # Kept only to scrub it from any message a driver error might echo; a password of a
        # few letters is left alone, as replacing it would garble the message's own words.
        self._secrets = {s for s in (password, unquote(password or "")) if s and len(s) >= 4}

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    # --- errors -------------------------------------------------------------------------------

    def _explain(self, exc: BaseException, doing: str) -> StorageError:
        where = f"Redis at WAITER_STORAGE={self.describe}"
        text = self._scrub(str(exc))
        if isinstance(
            exc,
            redis_errors.AuthenticationError
            | redis_errors.AuthenticationWrongNumberOfArgsError
            | redis_errors.AuthorizationError
            | redis_errors.NoPermissionError,
        ):
            hint = (
                f"authentication failed or was refused while trying to {doing} ({text}); "
                "check the user name and password in the address"
            )
        elif isinstance(exc, redis_errors.BusyLoadingError):
            hint = (
                f"the server is still loading its data, so could not {doing}; the next call "
                "tries again"
            )
        elif isinstance(exc, redis_errors.TimeoutError | TimeoutError):
            # Before OSError: the built-in TimeoutError is one.
            hint = (
                f"the server did not answer within {self.timeout:g} s (WAITER_STORAGE_TIMEOUT) "
                f"while trying to {doing} ({text})"
            )
        elif isinstance(exc, redis_errors.ConnectionError | OSError):
            hint = (
                f"the server is unreachable or dropped the connection, so could not {doing} "
                f"({text}); start it or correct the address (the next call connects again)"
            )
        elif isinstance(exc, redis_errors.ReadOnlyError):
            hint = (
                f"the server is a read-only replica, so could not {doing}; point the address "
                "at the primary"
            )
        else:
            hint = f"the server refused to {doing}: {text}"
        error = StorageError(f"{where}: {hint}")
        error.__cause__ = exc
        return error

    @contextlib.asynccontextmanager
    async def _guard(self, doing: str) -> AsyncIterator[Redis]:
        client = self._client
        if client is None:
            raise StorageError(f"{self.describe} is not open (the app has not started, or stopped)")
        # No deadline on the wait for a slot: the calls ahead each end within the socket
        # timeout, so a slot always comes; a burst of thousands of messages waits its turn
        # instead of failing because it was the 51st.
        slots = self._slots
        await slots.acquire()
        try:
            yield client
        except (redis_errors.RedisError, OSError) as exc:
            raise self._explain(exc, doing) from exc
        finally:
            slots.release()

    def _record_key(self, bucket: Bucket) -> str:
        return f"waiter:{bucket.scope}:{_escape(bucket.plugin)}:{_escape(bucket.owner)}"

    def _owners_key(self, scope: Scope, plugin: str) -> str:
        return f"waiter:owners:{scope}:{_escape(plugin)}"

    def _schema_key(self, scope: Scope, plugin: str) -> str:
        return f"waiter:schema:{scope}:{_escape(plugin)}"

    # --- lifecycle ----------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            pool = ConnectionPool.from_url(
                self.url,
                max_connections=_MAX_CONNECTIONS,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                # No silent retry: a write whose answer timed out may have been applied, and
                # sending it again would count an increment twice. Storage retries on the
                # next call instead, and the pool replaces a dead connection by itself.
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:
            raise StorageError(
                f"WAITER_STORAGE={self.describe} is not a Redis address "
                f"({self._scrub(str(exc))}); use "
                "redis://[:password@]host:6379/0, rediss://... or unix:///path/to/socket"
            ) from None
        client = Redis.from_pool(pool)
        self._client = client
        self._scripts = {
            name: client.register_script(source)
            for name, source in (
                ("write", _WRITE),
                ("delete", _DELETE),
                ("drop", _DROP),
                ("rename", _RENAME),
            )
        }
        async with self._guard("connect"):
            await client.ping()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # --- records ------------------------------------------------------------------------------

    async def load(self, bucket: Bucket, names: Iterable[str] | None = None) -> dict[str, Any]:
        key = self._record_key(bucket)
        if names is None:
            async with self._guard("read a record") as client:
                found = await client.hgetall(key)
            return {_text(name): orjson.loads(raw) for name, raw in found.items()}
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return {}
        async with self._guard("read a record") as client:
            raws = await client.hmget(key, wanted)
        return {
            name: orjson.loads(raw)
            for name, raw in zip(wanted, raws, strict=True)
            if raw is not None
        }

    async def write(
        self,
        bucket: Bucket,
        values: Mapping[str, Any],
        increments: Mapping[str, tuple[int, int]],
    ) -> dict[str, int]:
        # Encoded before anything is sent: a value that cannot be stored changes nothing. A
        # field both set and incremented ends as the counter, as on the other backends.
        args: list[str | bytes | int] = [bucket.owner, 0]
        for name, value in values.items():
            if name not in increments:
                args += (name, orjson.dumps(value))
        args[1] = (len(args) - 2) // 2
        for name, (delta, default) in increments.items():
            args += (name, delta, default)
        if len(args) == 2:
            return {}
        keys = [self._record_key(bucket), self._owners_key(bucket.scope, bucket.plugin)]
        async with self._guard("write a record") as client:
            reply = await self._scripts["write"](keys=keys, args=args, client=client)
        if reply[0] != 1:
            name, why = _text(reply[1]), _text(reply[2])
            whose = bucket.owner or "its key-value data"
            if why == "type":
                raise StoredValueError(
                    f"plugin {bucket.plugin}: {name!r} of {whose} holds something other than "
                    "an integer; it cannot be incremented"
                )
            delta = increments[name][0]
            raise StoredValueError(
                f"plugin {bucket.plugin}: {name!r} of {whose} cannot be incremented by "
                f"{delta} (Redis: {why}); a counter is a 64-bit integer. Nothing was written"
            )
        return {name: int(raw) for name, raw in zip(increments, reply[1:], strict=True)}

    async def delete(self, bucket: Bucket, names: Iterable[str]) -> int:
        fields = list(dict.fromkeys(names))
        if not fields:
            return 0
        keys = [self._record_key(bucket), self._owners_key(bucket.scope, bucket.plugin)]
        async with self._guard("delete fields") as client:
            removed = await self._scripts["delete"](
                keys=keys, args=[bucket.owner, *fields], client=client
            )
        return int(removed)

    async def names(self, bucket: Bucket) -> list[str]:
        async with self._guard("list a record's fields") as client:
            found = await client.hkeys(self._record_key(bucket))
        return sorted(_text(name) for name in found)

    async def _owner_batches(self, scope: Scope, plugin: str, match: str) -> list[list[str]]:
        # A set per (scope, plugin) rather than SCAN over the keyspace: listing a plugin's
        # owners then costs its own records, not every key in the database.
        key = self._owners_key(scope, plugin)
        batches: list[list[str]] = []
        async with self._guard("list owners") as client:
            cursor = 0
            while True:
                cursor, members = await client.sscan(key, cursor, match=match, count=_BATCH)
                if members:
                    batches.append([_text(m) for m in members])
                if cursor == 0:
                    break
        return batches

    async def owners(self, scope: Scope, plugin: str, prefix: str = "") -> list[str]:
        batches = await self._owner_batches(scope, plugin, _glob_escape(prefix) + "*")
        # SSCAN may return a member twice; the set makes each owner appear once.
        return sorted({owner for batch in batches for owner in batch if owner.startswith(prefix)})

    # --- schema -------------------------------------------------------------------------------

    async def schema(self, scope: Scope, plugin: str) -> dict[str, str]:
        async with self._guard("read the schema") as client:
            found = await client.hgetall(self._schema_key(scope, plugin))
        return {_text(name): _text(kind) for name, kind in found.items()}

    async def add_fields(self, scope: Scope, plugin: str, types: Mapping[str, str]) -> None:
        if not types:
            return
        async with self._guard("record the schema") as client:
            await client.hset(
                self._schema_key(scope, plugin), items=[x for pair in types.items() for x in pair]
            )

    # Records are changed before the schema: if the server goes away halfway, the schema still
    # lists the field, so Storage's check names the command again and running it finishes the
    # job (each batch is idempotent).

    async def drop_field(self, scope: Scope, plugin: str, name: str) -> int:
        held = 0
        owners_key = self._owners_key(scope, plugin)
        for batch in await self._owner_batches(scope, plugin, "*"):
            keys = [owners_key, *(self._record_key(Bucket(scope, plugin, o)) for o in batch)]
            async with self._guard("drop a field") as client:
                held += int(
                    await self._scripts["drop"](keys=keys, args=[name, *batch], client=client)
                )
        async with self._guard("drop a field") as client:
            await client.hdel(self._schema_key(scope, plugin), name)
        return held

    async def rename_field(self, scope: Scope, plugin: str, old: str, new: str) -> int:
        held = 0
        for batch in await self._owner_batches(scope, plugin, "*"):
            keys = [self._record_key(Bucket(scope, plugin, o)) for o in batch]
            async with self._guard("rename a field") as client:
                held += int(
                    await self._scripts["rename"](keys=keys, args=[old, new], client=client)
                )
        async with self._guard("rename a field") as client:
            await self._scripts["rename"](
                keys=[self._schema_key(scope, plugin)], args=[old, new], client=client
            )
        return held
