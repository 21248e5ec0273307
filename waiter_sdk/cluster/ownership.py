"""``Ownership``: which worker process holds which session key, kept in Redis.

Usage (one per worker; the later routing and worker code calls it, plugins never do)::

    own = Ownership(client, worker_id="w1", ttl=30.0)
    claim = await own.claim(key)                 # SET key w1 NX GET PX 30000
    if not claim.claimed:
        raise claim.busy_error(key)              # the same SessionBusyError as in one process
    claim = await own.claim(key, replace=True)   # conflict="replace": claim.previous was the owner
    await own.refresh([key])                     # keep, and the heartbeat: [True] while still ours
    await own.release([key])                     # the session ended: delete it if still ours
    await own.owners([k1, k2, k3])               # the ingress: one MGET

Layout (for operators reading the database)::

    waiter:own:<session key>     string   worker id, with a PX expiry of ``ttl``

The key is the encoded ``SessionKey`` as it is (``session/keys.py``): that encoding is already
injective, so nothing more is escaped. Expiry is Redis's own (``PX``): a worker that dies stops
refreshing, and its keys vanish ``ttl`` later without anyone reading a clock; this module reads
none either.

Every operation is one round trip, and every one that reads before it writes is one Lua script
(atomic in Redis: no other command runs between its read and its write). "Busy" means held by
anyone, this worker included: SET NX cannot tell a second session of this worker apart from a
retry, so a claim that finds ``owner == worker_id`` is for the caller's in-process registry to
judge (it knows which of its sessions holds the key).

Multi-key scripts touch several keys; on a Redis Cluster these would have to share a hash slot.
One Redis (with replicas) is what issue 14 targets, so the keys carry no hash tag.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from ..exceptions import OwnershipError, SessionBusyError
from ._redis import Guard

__all__ = ["Claim", "Claims", "Ownership"]

# The same bound as storage's (storage/redis.py): a broadcast opening thousands of sessions at
# once waits its turn for one of these slots instead of asking a plain ConnectionPool for
# thousands of sockets (which it would refuse with "Too many connections").
_MAX_CALLS = 50

# KEYS: the key. ARGV: worker id, ttl in ms. Returns the previous owner (false: none). GET then
# SET in one script, so the caller learns exactly whom it took the key from.
_REPLACE = """
local previous = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return previous
"""

# KEYS: the keys. ARGV: worker id, ttl in ms, '1' to replace. Returns {1 if claimed, the owner
# of each key before the call (false: none)...}. Without replace, one held key makes the whole
# claim fail before anything is written: all or none, so two workers racing for overlapping
# key sets cannot each end up with part of them.
_CLAIM_MANY = """
local reply = {0}
local busy = false
for i = 1, #KEYS do
  local owner = redis.call('GET', KEYS[i])
  reply[i + 1] = owner
  if owner then busy = true end
end
if busy and ARGV[3] ~= '1' then
  return reply
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
end
reply[1] = 1
return reply
"""

# KEYS: the keys. ARGV: worker id, ttl in ms. Returns 1 per key still ours (now extended), 0
# per key lost (expired, or replaced by another worker): compare, then PEXPIRE, so a
# heartbeat never extends a key another worker took over.
_REFRESH = """
local kept = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    kept[i] = 1
  else
    kept[i] = 0
  end
end
return kept
"""

# KEYS: the keys. ARGV: worker id. Compare-and-delete: a session that ends late must not
# delete a key another worker has claimed since (the cross-process form of the registry's
# identity check in remove()).
_RELEASE = """
local removed = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    removed = removed + redis.call('DEL', KEYS[i])
  end
end
return removed
"""


def _text(raw: Any) -> str | None:
    # The client may or may not decode responses: accept both.
    if raw is None:
        return None
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _busy(key: str, owner: str | None, worker_id: str) -> SessionBusyError:
    where = "this worker" if owner == worker_id else f"worker {owner or '?'}"
    return SessionBusyError(
        f"session key {key} is already held by an open session on {where}; "
        "pass conflict='replace' to take it over"
    )


@dataclass(frozen=True, slots=True)
class Claim:
    """What ``Ownership.claim`` found and did for one key.

    ``claimed``: the key is now this worker's. ``previous``: who held it before the call
    (``None``: nobody); with ``replace=True`` that is the worker to tell its session was
    replaced, and without it, on a busy key, the worker that still holds it.
    """

    claimed: bool
    previous: str | None
    worker_id: str

    @property
    def owner(self) -> str | None:
        """Who holds the key after the call."""
        return self.worker_id if self.claimed else self.previous

    def busy_error(self, key: str) -> SessionBusyError:
        """The ``SessionBusyError`` a busy claim raises in the opener, as in one process."""
        return _busy(key, self.previous, self.worker_id)


@dataclass(frozen=True, slots=True)
class Claims:
    """What ``Ownership.claim_many`` found and did: all of ``keys`` claimed, or none.

    ``previous[i]`` is who held ``keys[i]`` before the call (``None``: nobody).
    """

    claimed: bool
    keys: tuple[str, ...]
    previous: tuple[str | None, ...]
    worker_id: str

    def held(self) -> dict[str, str]:
        """The keys someone held before the call, with their owner (who blocked the claim, or,
        with ``replace=True``, whom it was taken from)."""
        return {k: o for k, o in zip(self.keys, self.previous, strict=True) if o is not None}

    def replaced(self) -> set[str]:
        """The other workers whose keys this claim took over (to tell each its session ended)."""
        if not self.claimed:
            return set()
        return {o for o in self.previous if o is not None and o != self.worker_id}

    def busy_error(self) -> SessionBusyError:
        """The ``SessionBusyError`` a failed claim raises in the opener, naming the first key
        that was held and its owner."""
        held = self.held()
        if self.claimed or not held:
            raise ValueError("busy_error() of a claim that succeeded")
        key, owner = next(iter(held.items()))
        return _busy(key, owner, self.worker_id)


class Ownership:
    """This worker's session keys in Redis: claim, refresh, release, and who owns what.

    Needs Redis 7.0 or later (``SET ... NX GET``; Debian 12's redis-server is 7.0).

    ``client`` is a redis-py asyncio client over a plain ``ConnectionPool``; give it no retry
    (``Retry(NoBackoff(), 0)``, as storage does): a claim whose answer timed out may have been
    applied, and sending it again would find this worker's own claim and call it busy. A failed
    call raises ``OwnershipError`` and the next call connects again.

    ``ttl`` (seconds) is how long a key outlives the last claim or refresh of this worker: the
    heartbeat must refresh well within it, and a dead worker's sessions are noticed about that
    long after it died. ``describe`` names this Redis in error messages (for instance the
    setting and its redacted address); by default its host, port and database.
    """

    __slots__ = (
        "_guard",
        "_scripts",
        "prefix",
        "ttl",
        "ttl_ms",
        "worker_id",
    )

    def __init__(
        self,
        client: Redis,
        worker_id: str,
        ttl: float,
        *,
        prefix: str = "waiter:own:",
        describe: str | None = None,
        max_calls: int = _MAX_CALLS,
    ) -> None:
        if not worker_id:
            raise ValueError("worker_id must be a non-empty string: it is what a key's owner is")
        if not ttl > 0:
            raise ValueError(f"ttl must be a positive number of seconds, not {ttl!r}")
        self.worker_id = worker_id
        self.ttl = ttl
        # PX takes whole milliseconds; at least one, as PX 0 is an error in Redis.
        self.ttl_ms = max(1, round(ttl * 1000))
        self.prefix = prefix
        self._guard = Guard(client, describe, max_calls, OwnershipError)
        self._scripts: dict[str, AsyncScript] = {
            name: client.register_script(source)
            for name, source in (
                ("replace", _REPLACE),
                ("claim_many", _CLAIM_MANY),
                ("refresh", _REFRESH),
                ("release", _RELEASE),
            )
        }

    def _keys(self, keys: Iterable[str]) -> tuple[list[str], list[str]]:
        # Duplicates dropped, order kept: a key listed twice is one key.
        wanted = list(dict.fromkeys(keys))
        return wanted, [self.prefix + k for k in wanted]

    # --- operations ---------------------------------------------------------------------------

    async def claim(self, key: str, *, replace: bool = False) -> Claim:
        """Claim ``key`` for this worker, or find who holds it; with ``replace``, take it over.

        A busy claim changes nothing: raise ``claim.busy_error(key)`` in the opener.
        """
        name = self.prefix + key
        if replace:
            async with self._guard(f"take over session key {key}") as client:
                previous = await self._scripts["replace"](
                    keys=[name], args=[self.worker_id, self.ttl_ms], client=client
                )
            return Claim(True, _text(previous), self.worker_id)
        # SET NX GET (Redis 7.0+): sets and answers nil when the key was free, or answers the
        # owner and sets nothing, in one command.
        async with self._guard(f"claim session key {key}") as client:
            held = await client.set(name, self.worker_id, nx=True, get=True, px=self.ttl_ms)
        owner = _text(held)
        return Claim(owner is None, owner, self.worker_id)

    async def claim_many(self, keys: Iterable[str], *, replace: bool = False) -> Claims:
        """Claim every one of ``keys`` for this worker, or none of them (a cross-chat session's
        keys); with ``replace``, take over whichever are held."""
        wanted, names = self._keys(keys)
        if not wanted:
            return Claims(True, (), (), self.worker_id)
        async with self._guard(f"claim session keys {', '.join(wanted)}") as client:
            reply = await self._scripts["claim_many"](
                keys=names,
                args=[self.worker_id, self.ttl_ms, "1" if replace else "0"],
                client=client,
            )
        # GET of a free key is Lua's false, which Redis answers as nil: None here.
        previous = tuple(_text(raw) for raw in reply[1:])
        return Claims(int(reply[0]) == 1, tuple(wanted), previous, self.worker_id)

    async def refresh(self, keys: Iterable[str]) -> list[bool]:
        """Extend each key by ``ttl`` where this worker still owns it (``keep``, the heartbeat).

        One bool per key (duplicates dropped): False marks a key lost (expired, or taken over by
        another worker), whose session here should end.
        """
        wanted, names = self._keys(keys)
        if not wanted:
            return []
        async with self._guard("refresh session keys") as client:
            kept = await self._scripts["refresh"](
                keys=names, args=[self.worker_id, self.ttl_ms], client=client
            )
        return [int(k) == 1 for k in kept]

    async def release(self, keys: Iterable[str]) -> int:
        """Delete those of ``keys`` this worker still owns (a session ended); how many were."""
        wanted, names = self._keys(keys)
        if not wanted:
            return 0
        async with self._guard("release session keys") as client:
            removed = await self._scripts["release"](
                keys=names, args=[self.worker_id], client=client
            )
        return int(removed)

    async def owners(self, keys: Iterable[str]) -> list[str | None]:
        """The worker holding each of ``keys`` (``None``: nobody), in one MGET (the ingress).

        One entry per key given, duplicates included, so the caller can zip them.
        """
        listed = list(keys)
        if not listed:
            return []
        async with self._guard("look up session owners") as client:
            found = await client.mget([self.prefix + k for k in listed])
        return [_text(raw) for raw in found]
