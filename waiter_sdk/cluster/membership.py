"""``Members``: which worker processes are alive, from their heartbeats in Redis.

Usage::

    members = Members(client, dead_after=3.0)
    await members.beat("w1", {"pid": 4242, "host": "bot-1"})   # every heartbeat of worker w1
    await members.live()            # ["w1", "w2"]: listed and beating, sorted
    await members.dead()            # ["w3"]: listed, no heartbeat for dead_after seconds
    await members.leave("w1")       # a clean stop: listed as left, for the ingress

A worker is listed in ``waiter:workers`` (a hash: id -> JSON info) from its first heartbeat
until the ingress has cleaned up after it (it died, or it left: ``{"left": true}``), and alive
while ``waiter:alive:<id>`` exists:
each heartbeat sets it with ``PX dead_after``, so Redis itself forgets a worker that stopped
beating. Nobody reads a clock: the expiry is Redis's.

The sorted live list is what every worker computes its shards from (``assigned_shards``), so
they all agree without talking to each other, one heartbeat apart at worst.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from redis.asyncio import Redis

from ..exceptions import DeliveryError
from ._redis import Guard
from .layout import WORKERS, alive_key, gone_key

__all__ = ["Members"]

# KEYS: the workers hash. ARGV: the alive-key prefix. Returns {id, 1 or 0, id, 1 or 0, ...}.
_LISTED = """
local out = {}
for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
  out[#out + 1] = name
  out[#out + 1] = redis.call('EXISTS', ARGV[1] .. name)
end
return out
"""


class Members:
    """The membership of the cluster, read and written in one round trip per call."""

    __slots__ = ("_guard", "_listed", "dead_after", "dead_after_ms")

    def __init__(self, client: Redis, dead_after: float, *, describe: str | None = None) -> None:
        if not dead_after > 0:
            raise ValueError(f"dead_after must be a positive number of seconds, not {dead_after!r}")
        self.dead_after = dead_after
        self.dead_after_ms = max(1, round(dead_after * 1000))
        self._guard = Guard(client, describe, 8, DeliveryError)
        self._listed = client.register_script(_LISTED)

    async def beat(self, worker_id: str, info: Mapping[str, Any]) -> bool:
        """Worker ``worker_id`` is alive for another ``dead_after`` seconds. True when it had
        been handed over meanwhile (it was taken for dead: its heartbeat came too late), which
        this call also forgets: from now on it is a member again, with nothing of before."""
        async with self._guard(f"record the heartbeat of worker {worker_id}") as client:
            pipe = client.pipeline(transaction=True)
            pipe.set(alive_key(worker_id), "1", px=self.dead_after_ms)
            pipe.hset(WORKERS, worker_id, orjson.dumps(dict(info)))
            pipe.getdel(gone_key(worker_id))
            *_, gone = await pipe.execute()
        return gone is not None

    async def leave(self, worker_id: str) -> None:
        """Worker ``worker_id`` stopped cleanly: no longer alive, and listed as ``left`` until
        the ingress has handed over what is left in its stream (and unlists it).

        A worker that is simply no longer listed is not one that left: after Redis restarted
        empty, every worker is unlisted until its next heartbeat, and handing live workers
        over would delete their streams under them.
        """
        async with self._guard(f"remove worker {worker_id} from the cluster") as client:
            pipe = client.pipeline(transaction=True)
            pipe.delete(alive_key(worker_id))
            pipe.hset(WORKERS, worker_id, orjson.dumps({"left": True}))
            await pipe.execute()

    async def listed(self) -> dict[str, bool]:
        """Every listed worker, and whether it is alive; one round trip (a script: the names
        and their alive keys read atomically, so no worker is seen listed but half-read)."""
        async with self._guard("read the cluster's workers") as client:
            reply = await self._listed(keys=[WORKERS], args=[alive_key("")], client=client)
        return {_text(reply[i]): bool(reply[i + 1]) for i in range(0, len(reply), 2)}

    async def live(self) -> list[str]:
        """Listed workers with a heartbeat, sorted (every process sorts them alike)."""
        return sorted(n for n, up in (await self.listed()).items() if up)

    async def dead(self) -> list[str]:
        """Listed workers whose heartbeat expired: to be cleaned up after."""
        return sorted(n for n, up in (await self.listed()).items() if not up)

    async def info(self, worker_id: str) -> dict[str, Any] | None:
        """What worker ``worker_id`` said about itself in its last heartbeat."""
        async with self._guard(f"read worker {worker_id}") as client:
            raw = await client.hget(WORKERS, worker_id)
        if raw is None:
            return None
        data = orjson.loads(raw)
        return data if isinstance(data, dict) else None


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)
