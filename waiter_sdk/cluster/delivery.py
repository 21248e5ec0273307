"""Events from the ingress to the workers over Redis Streams (issue 14, items 3 and 4's transport).

Usage (the later ingress and worker code calls these, plugins never do)::

    out = Outbox(client)                                     # the ingress
    await out.send(worker_stream("w1"), payload)             # an event for w1's sessions
    await out.send(shared_stream(shard_for(chat, 4)), payload)   # nobody owns it yet

    shards = [shared_stream(s) for s in assigned_shards(0, workers=2, shards=4)]
    inbox = Inbox(client, "w1", [worker_stream("w1"), *shards])
    for d in await inbox.read(count=100, block_ms=1000):     # XREADGROUP ... >
        if await ledger.begin(platform_message_id):          # SET NX: the first handling only
            await handle(d.payload)
            await ledger.done(platform_message_id)
        await inbox.ack(d)                                   # XACK: gone from the pending list
    await inbox.claim_stale(min_idle_ms=30_000)              # XAUTOCLAIM: a dead worker's work

Layout (for operators reading the database)::

    waiter:in:<worker id>        stream   events routed to that worker (its sessions' chats)
    waiter:in:any:<shard>        stream   events nobody owns yet, by shard_for(chat key, shards)
    waiter:seen:<message key>    string   "begun", then "done", with a PX expiry of ``ttl``

Every stream has one consumer group, ``workers``, and each worker is a consumer named by its
worker id. The payload is one opaque field (``payload``) holding bytes the caller encoded; this
module does not know what an event looks like.

Delivery is at least once: a worker that dies after reading leaves its messages pending in the
group, and another worker takes them over with ``claim_stale`` once they have been idle for
``min_idle_ms`` (Redis measures the idle time; this module reads no clock). The ``Ledger``
turns that into "handled at most once per platform message id" -- with one window each way:

* handled, ``done`` written, not yet acked, then the worker dies: on reclaim ``begin`` answers
  False and the new worker acks without handling. Nothing is lost or doubled.
* ``begin`` written, then the worker dies while handling: on reclaim ``begin`` answers False as
  well, so the event is acked unhandled (dropped), not handled twice. ``state()`` answers
  ``"begun"`` for such a key, for the caller to log. Replying twice on a chat platform is the
  worse failure; that is why the ledger is written before handling, not after.

A ledger key outlives its ``ttl`` only if refreshed by ``done``; a message reclaimed after its
key expired is handled again, so ``ttl`` must be well above ``min_idle_ms`` plus a handler's
longest run.

Ordering: one stream, one consumer at a time, keeps order. Events of one chat that nobody owns
go to the shard ``shard_for`` picks, and each shard is read by one worker (``assigned_shards``),
so they stay in order too, as long as the assignment does not change while messages are in
flight. Moving shards when workers come and go is issue 14's membership, not this module.

Trimming (``Outbox(maxlen=...)``) is off by default: ``MAXLEN`` removes the oldest entries
whether or not a worker acknowledged them, which would drop unhandled events without a word.
Acknowledged entries stay in the stream until someone trims it (``XTRIM``); that is the price.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from loguru import logger
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from ..exceptions import DeliveryError
from ._redis import Guard
from .layout import WORKERS, handover_key

__all__ = [
    "GROUP",
    "Delivery",
    "Inbox",
    "Ledger",
    "Outbox",
    "assigned_shards",
    "shard_for",
    "shared_stream",
    "worker_stream",
]

# The same bound as Ownership's and storage's: a burst waits its turn for one of these slots
# instead of asking a plain ConnectionPool for thousands of sockets.
_MAX_CALLS = 50

STREAM_PREFIX = "waiter:in:"
GROUP = "workers"
_FIELD = "payload"

# KEYS: the stream. ARGV: group, consumer, min idle ms, cursor, count, payload field.
# Returns {next cursor, {id, payload, delivery count, ...}, how many pending ids Redis dropped
# because their entries were trimmed away}. XAUTOCLAIM does not say how often a message was
# delivered, so XPENDING asks for each one here, in the same round trip and atomically (no
# other consumer can claim it between the two).
_CLAIM = """
local reply = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4],
                         'COUNT', ARGV[5])
local out = {}
for _, entry in ipairs(reply[2]) do
  local id = entry[1]
  local payload = false
  local fields = entry[2]
  if fields then
    for j = 1, #fields, 2 do
      if fields[j] == ARGV[6] then payload = fields[j + 1] end
    end
  end
  local info = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  local count = 0
  if info[1] then count = info[1][4] end
  out[#out + 1] = id
  out[#out + 1] = payload
  out[#out + 1] = count
end
local dropped = 0
if reply[3] then dropped = #reply[3] end
return {reply[1], out, dropped}
"""


# KEYS: ledger keys. ARGV: ttl in ms. Returns 1 per key begun now, else 2 (done) or 0 (begun
# by someone else): a worker's whole read batch in one round trip, and what to log for each.
_BEGIN_MANY = """
local out = {}
for i = 1, #KEYS do
  if redis.call('SET', KEYS[i], 'begun', 'NX', 'PX', ARGV[1]) then
    out[i] = 1
  elseif redis.call('GET', KEYS[i]) == 'done' then
    out[i] = 2
  else
    out[i] = 0
  end
end
return out
"""

# KEYS: ledger keys. ARGV: ttl in ms. Returns how many records were still there (SET XX).
_DONE_MANY = """
local kept = 0
for i = 1, #KEYS do
  if redis.call('SET', KEYS[i], 'done', 'XX', 'PX', ARGV[1]) then kept = kept + 1 end
end
return kept
"""

# KEYS: the workers hash, the worker's handover lock, its stream. ARGV: worker id, payload
# field, payload, MAXLEN ("" for none). Appends only to a worker that is listed and not being
# handed over; else returns false. A forward decided on an older view (the worker died since)
# would otherwise recreate a stream the handover already read and deleted, which nobody reads.
_XADD_IF_LISTED = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 1 then
  return false
end
if ARGV[4] == '' then
  return redis.call('XADD', KEYS[3], '*', ARGV[2], ARGV[3])
end
return redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', ARGV[2], ARGV[3])
"""

# --- names and shards -------------------------------------------------------------------------


def worker_stream(worker_id: str, prefix: str = STREAM_PREFIX) -> str:
    """The stream of events routed to ``worker_id`` (``waiter:in:<worker id>``)."""
    if not worker_id or worker_id == "any" or worker_id.startswith("any:"):
        raise ValueError(
            f"worker id {worker_id!r} cannot name a stream: it must be non-empty and not "
            "'any' or 'any:...', which name the shared streams"
        )
    return prefix + worker_id


def shared_stream(shard: int, prefix: str = STREAM_PREFIX) -> str:
    """The stream of shard ``shard`` of the events nobody owns (``waiter:in:any:<shard>``)."""
    if shard < 0:
        raise ValueError(f"shard must be 0 or more, not {shard}")
    return f"{prefix}any:{shard}"


def shard_for(chat_key: str, shards: int) -> int:
    """The shard, in ``range(shards)``, of the events of ``chat_key`` that nobody owns.

    CRC-32 of the key's UTF-8 bytes (``zlib.crc32``: the IEEE 802.3 polynomial of gzip and PNG),
    modulo ``shards``. Stable across processes, machines and Python versions, unlike ``hash()``,
    which is salted per process: the ingress and every worker must agree on it. Changing it
    reorders every chat in flight, so it never changes.
    """
    if shards < 1:
        raise ValueError(f"shards must be 1 or more, not {shards}")
    return zlib.crc32(chat_key.encode("utf-8")) % shards


def assigned_shards(index: int, workers: int, shards: int) -> list[int]:
    """The shards worker number ``index`` of ``workers`` reads: every ``workers``-th one.

    Each shard goes to exactly one worker, so one chat's unowned events are read in order.
    With more workers than shards, the extra workers read no shard (only their own stream).
    """
    if not 0 <= index < workers:
        raise ValueError(f"index must be in range({workers}), not {index}")
    if shards < 1:
        raise ValueError(f"shards must be 1 or more, not {shards}")
    return list(range(index, shards, workers))


# --- the shared plumbing ----------------------------------------------------------------------


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _bytes(raw: Any) -> bytes:
    return raw if isinstance(raw, bytes) else str(raw).encode()


def _is(exc: BaseException, code: str) -> bool:
    # Redis error replies start with their code ("NOGROUP No such key ...").
    return isinstance(exc, redis_errors.ResponseError) and str(exc).startswith(code)


class _RedisUser:
    """One client, a bound on concurrent calls, and errors that name the server."""

    __slots__ = ("_client", "_guard")

    def __init__(self, client: Redis, describe: str | None, max_calls: int) -> None:
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            # Payloads are bytes the caller encoded; decoding them as text would fail on
            # anything that is not UTF-8 and hand back str where bytes were sent.
            raise ValueError("the client must not decode responses (decode_responses=False)")
        self._client = client
        self._guard = Guard(client, describe, max_calls, DeliveryError)


# --- ingress ----------------------------------------------------------------------------------


class Outbox(_RedisUser):
    """The ingress's side: append an event's bytes to a stream (XADD).

    ``client`` as for ``Ownership``: a plain pool, no retry (``Retry(NoBackoff(), 0)``), and
    here also ``decode_responses=False``. A send whose answer timed out may have been appended:
    sending it again could deliver it twice, which the workers' ``Ledger`` absorbs; sending it
    silently again here would hide the failure, so a failed call raises ``DeliveryError``.

    ``maxlen`` (off by default) trims each stream to about that many entries (``MAXLEN ~``),
    acknowledged or not: only for deployments that prefer losing old events to memory growth.
    """

    __slots__ = ("_if_listed", "maxlen")

    def __init__(
        self,
        client: Redis,
        *,
        maxlen: int | None = None,
        describe: str | None = None,
        max_calls: int = _MAX_CALLS,
    ) -> None:
        if maxlen is not None and maxlen < 1:
            raise ValueError(f"maxlen must be 1 or more, or None (no trimming), not {maxlen}")
        super().__init__(client, describe, max_calls)
        self.maxlen = maxlen
        self._if_listed: AsyncScript = client.register_script(_XADD_IF_LISTED)

    async def send(self, stream: str, payload: bytes) -> str:
        """Append ``payload`` to ``stream`` (created if missing); the entry's id."""
        async with self._guard(f"send an event to {stream}") as client:
            entry_id = await client.xadd(
                stream, {_FIELD: payload}, maxlen=self.maxlen, approximate=True
            )
        return _text(entry_id)

    async def send_many(self, entries: Sequence[tuple[str, bytes]]) -> list[str]:
        """Append each ``(stream, payload)`` in order, in one round trip (a pipeline, not a
        transaction); the entries' ids. A failure raises ``DeliveryError``: some of the
        entries may have been appended (the workers' ``Ledger`` absorbs a second copy)."""
        if not entries:
            return []
        streams = ", ".join(dict.fromkeys(stream for stream, _ in entries))
        async with self._guard(f"send events to {streams}") as client:
            pipe = client.pipeline(transaction=False)
            for stream, payload in entries:
                pipe.xadd(stream, {_FIELD: payload}, maxlen=self.maxlen, approximate=True)
            ids = await pipe.execute()
        return [_text(i) for i in ids]

    async def send_to_workers(self, entries: Sequence[tuple[str, bytes]]) -> list[str | None]:
        """Append each ``(worker id, payload)`` to that worker's own stream, in one round trip,
        but only while the worker is listed in ``waiter:workers`` and no handover of it has
        begun: ``None`` for each entry refused so (its worker died or left), for the caller to
        send elsewhere. Failures as for ``send_many``."""
        if not entries:
            return []
        maxlen = "" if self.maxlen is None else str(self.maxlen)
        workers = ", ".join(dict.fromkeys(worker for worker, _ in entries))
        async with self._guard(f"forward events to workers {workers}") as client:
            pipe = client.pipeline(transaction=False)
            for worker, payload in entries:
                keys = [WORKERS, handover_key(worker), worker_stream(worker)]
                await self._if_listed(keys, [worker, _FIELD, payload, maxlen], client=pipe)
            ids = await pipe.execute()
        return [None if i is None else _text(i) for i in ids]


# --- workers ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message handed to this worker.

    ``deliveries`` is how many times the group has handed it out, this time included: 1 for a
    fresh ``read``, 2 or more for a message ``claim_stale`` took over (Redis's delivery counter,
    which each claim increments). A high count marks a message that keeps killing its workers.
    An entry not written by ``Outbox`` (no ``payload`` field) arrives with an empty payload, for
    the caller's decoder to refuse and ack.
    """

    stream: str
    id: str
    payload: bytes
    deliveries: int


class Inbox(_RedisUser):
    """One worker's side of a set of streams: read, acknowledge, take over stale messages.

    ``consumer`` is this worker's id (its name in each group). ``streams`` are the streams it
    reads: its own and its shards, typically. Each gets the consumer group ``group`` the first
    time (``XGROUP CREATE ... 0 MKSTREAM``: from the stream's start, so events sent before any
    worker ran are read too; a group that exists already is fine).

    ``client`` as for ``Outbox``. Its ``socket_timeout`` must exceed ``block_ms``: a blocked
    read answers only when ``block_ms`` has passed, and the socket must wait that long.
    """

    __slots__ = ("_claim_script", "_cursors", "_ready", "consumer", "group", "streams")

    def __init__(
        self,
        client: Redis,
        consumer: str,
        streams: Sequence[str],
        *,
        group: str = GROUP,
        describe: str | None = None,
        max_calls: int = _MAX_CALLS,
    ) -> None:
        if not consumer:
            raise ValueError("consumer must be a non-empty string: it is the worker's id")
        if not streams:
            raise ValueError("streams must name at least one stream to read")
        super().__init__(client, describe, max_calls)
        self.consumer = consumer
        self.group = group
        self.streams: tuple[str, ...] = tuple(dict.fromkeys(streams))
        self._ready = False
        # Where the next XAUTOCLAIM of each stream goes on scanning the pending list: a long
        # list is walked a slice per call rather than rescanned from its start every time.
        self._cursors: dict[str, str] = {}
        self._claim_script: AsyncScript = client.register_script(_CLAIM)

    async def ensure_groups(self) -> None:
        """Create the group on each stream (and the stream) where missing, in one round trip.

        ``read`` calls it the first time and again after Redis lost the groups (a restart
        without persistence), so callers need not.
        """
        async with self._guard(f"create consumer group {self.group}") as client:
            pipe = client.pipeline(transaction=False)
            for stream in self.streams:
                pipe.xgroup_create(stream, self.group, id="0", mkstream=True)
            results = await pipe.execute(raise_on_error=False)
            for result in results:
                # BUSYGROUP: another worker (or an earlier call) created it. Idempotent.
                if isinstance(result, Exception) and not _is(result, "BUSYGROUP"):
                    raise result
        self._ready = True

    async def read(self, count: int = 100, block_ms: int | None = None) -> list[Delivery]:
        """New messages for this worker: up to ``count`` from each stream (XREADGROUP ... >).

        ``block_ms``: wait up to that long (Redis's timer) when none is there; ``None``: answer
        at once. Each message read is pending for this worker until ``ack``.
        """
        if count < 1:
            raise ValueError(f"count must be 1 or more, not {count}")
        if block_ms is not None:
            if block_ms < 1:
                # BLOCK 0 waits forever: a worker could then never notice it should stop.
                raise ValueError(f"block_ms must be 1 or more, or None, not {block_ms}")
            timeout = self._client.connection_pool.connection_kwargs.get("socket_timeout")
            if timeout is not None and block_ms >= timeout * 1000:
                raise ValueError(
                    f"block_ms={block_ms} must be below the client's socket_timeout "
                    f"({timeout} s), or the socket gives up before Redis answers"
                )
        if not self._ready:
            await self.ensure_groups()
        found = await self._read(count, block_ms)
        if found is None:
            # NOGROUP: the read did nothing (not an unknown outcome), so reading again once the
            # groups exist is safe, unlike a blind retry.
            await self.ensure_groups()
            found = await self._read(count, block_ms)
        return found or []

    async def _read(self, count: int, block_ms: int | None) -> list[Delivery] | None:
        async with self._guard(f"read events from {', '.join(self.streams)}") as client:
            try:
                reply: Any = await client.xreadgroup(
                    self.group,
                    self.consumer,
                    dict.fromkeys(self.streams, ">"),
                    count=count,
                    block=block_ms,
                )
            except redis_errors.ResponseError as exc:
                if _is(exc, "NOGROUP"):
                    self._ready = False
                    return None
                raise
        # redis-py answers [[stream, entries], ...] over RESP2 and {stream: [entries]} over
        # RESP3; entries are (id, {field: value}) pairs.
        pairs = reply.items() if isinstance(reply, dict) else reply or []
        found = []
        for stream, entries in pairs:
            if entries and isinstance(entries[0], list):
                entries = entries[0]
            for entry_id, fields in entries:
                payload = _bytes((fields or {}).get(_FIELD.encode(), b""))
                # ">" hands out only messages never delivered before: the count is 1.
                found.append(Delivery(_text(stream), _text(entry_id), payload, 1))
        return found

    async def ack(self, delivery: Delivery) -> bool:
        """Done with ``delivery``: drop it from the pending list (XACK). False if it was no
        longer pending (another worker claimed and acked it meanwhile)."""
        async with self._guard(f"acknowledge {delivery.id} on {delivery.stream}") as client:
            acked = await client.xack(delivery.stream, self.group, delivery.id)
        return int(acked) == 1

    async def ack_many(self, deliveries: Iterable[Delivery]) -> int:
        """``ack`` a batch in one round trip (one XACK per stream); how many were pending."""
        by_stream: dict[str, list[str]] = {}
        for d in deliveries:
            by_stream.setdefault(d.stream, []).append(d.id)
        if not by_stream:
            return 0
        async with self._guard(f"acknowledge events on {', '.join(by_stream)}") as client:
            pipe = client.pipeline(transaction=False)
            for stream, ids in by_stream.items():
                pipe.xack(stream, self.group, *ids)
            acked = await pipe.execute()
        return sum(int(n) for n in acked)

    async def claim_stale(
        self, min_idle_ms: int, count: int = 100, streams: Sequence[str] | None = None
    ) -> list[Delivery]:
        """Take over up to ``count`` messages that some consumer of the group read and has not
        acknowledged for ``min_idle_ms`` (XAUTOCLAIM): a dead worker's work, now this worker's.

        ``streams``: where to look, by default this inbox's own (a dead worker's stream may be
        named too). One round trip per stream looked at. A stream or group that does not exist
        has nothing to claim. ``min_idle_ms`` must exceed the longest a live worker takes
        between reading and acking, or live work is taken from it (and then handled twice
        unless the ``Ledger`` refuses it).
        """
        if min_idle_ms < 0:
            raise ValueError(f"min_idle_ms must be 0 or more, not {min_idle_ms}")
        if count < 1:
            raise ValueError(f"count must be 1 or more, not {count}")
        found: list[Delivery] = []
        for stream in self.streams if streams is None else streams:
            if len(found) >= count:
                break
            found += await self._claim(stream, min_idle_ms, count - len(found))
        return found

    async def _claim(self, stream: str, min_idle_ms: int, count: int) -> list[Delivery]:
        cursor = self._cursors.get(stream, "0-0")
        async with self._guard(f"claim stale events on {stream}") as client:
            try:
                reply = await self._claim_script(
                    keys=[stream],
                    args=[self.group, self.consumer, min_idle_ms, cursor, count, _FIELD],
                    client=client,
                )
            except redis_errors.ResponseError as exc:
                # Inside a script the reply is wrapped ("... script: ..."), so look anywhere.
                if "NOGROUP" in str(exc):
                    return []
                raise
        # "0-0": the scan reached the end of the pending list; the next call starts over.
        self._cursors[stream] = _text(reply[0])
        flat = reply[1]
        if int(reply[2]):
            # Only trimming (Outbox maxlen) removes unacknowledged entries: say so, as these
            # events are gone without having been handled.
            logger.warning(
                "{} events pending on {} were trimmed away before anyone handled them",
                int(reply[2]),
                stream,
            )
        return [
            Delivery(stream, _text(flat[i]), _bytes(flat[i + 1] or b""), int(flat[i + 2]))
            for i in range(0, len(flat), 3)
        ]


# --- idempotency ------------------------------------------------------------------------------


class Ledger(_RedisUser):
    """Which platform messages a worker has begun or finished handling, so a message delivered
    twice (a reclaim after a crash, or an ingress that sent it again) is handled once.

    ``begin(key)`` is ``SET waiter:seen:<key> begun NX PX ttl``: True only for the first caller,
    ever, within ``ttl``. ``key`` is the platform's own message id, namespaced by the caller
    (for instance ``onebot11:<self id>:<message id>``), not the stream entry's id: the same
    event sent twice by the ingress has two entry ids but one message id. See the module's
    docstring for what each crash window does.
    """

    __slots__ = ("_begin_many", "_done_many", "prefix", "ttl", "ttl_ms")

    def __init__(
        self,
        client: Redis,
        ttl: float,
        *,
        prefix: str = "waiter:seen:",
        describe: str | None = None,
        max_calls: int = _MAX_CALLS,
    ) -> None:
        if not ttl > 0:
            raise ValueError(f"ttl must be a positive number of seconds, not {ttl!r}")
        super().__init__(client, describe, max_calls)
        self.ttl = ttl
        self.ttl_ms = max(1, round(ttl * 1000))  # PX 0 is an error in Redis
        self.prefix = prefix
        self._begin_many: AsyncScript = client.register_script(_BEGIN_MANY)
        self._done_many: AsyncScript = client.register_script(_DONE_MANY)

    async def begin(self, message_key: str) -> bool:
        """True if nobody has begun ``message_key`` yet (and now this caller has): handle it.
        False: handled or being handled already; ack it without handling."""
        async with self._guard(f"record message {message_key} as begun") as client:
            won = await client.set(self.prefix + message_key, "begun", nx=True, px=self.ttl_ms)
        return bool(won)

    async def done(self, message_key: str) -> bool:
        """Mark ``message_key`` handled, for another ``ttl``. False if its record had expired
        already (``ttl`` is shorter than the handling took: raise it)."""
        async with self._guard(f"record message {message_key} as done") as client:
            kept = await client.set(self.prefix + message_key, "done", xx=True, px=self.ttl_ms)
        return bool(kept)

    async def begin_many(self, message_keys: Sequence[str]) -> list[Literal[True, "begun", "done"]]:
        """``begin`` for each key in one round trip, in order: ``True`` (handle it), or the
        state that refused it (``"begun"``: maybe its worker died mid-way; ``"done"``)."""
        if not message_keys:
            return []
        async with self._guard(f"record {len(message_keys)} messages as begun") as client:
            reply = await self._begin_many(
                keys=[self.prefix + k for k in message_keys], args=[self.ttl_ms], client=client
            )
        codes: dict[int, Literal[True, "begun", "done"]] = {1: True, 2: "done", 0: "begun"}
        return [codes[int(code)] for code in reply]

    async def done_many(self, message_keys: Sequence[str]) -> int:
        """``done`` for each key in one round trip; how many records were still there."""
        if not message_keys:
            return 0
        async with self._guard(f"record {len(message_keys)} messages as done") as client:
            kept = await self._done_many(
                keys=[self.prefix + k for k in message_keys], args=[self.ttl_ms], client=client
            )
        return int(kept)

    async def state(self, message_key: str) -> Literal["begun", "done"] | None:
        """``"begun"`` (begun, never finished: maybe its worker died mid-way), ``"done"``, or
        ``None`` (never seen, or forgotten after ``ttl``)."""
        async with self._guard(f"look up message {message_key}") as client:
            raw = await client.get(self.prefix + message_key)
        if raw is None:
            return None
        return "done" if _text(raw) == "done" else "begun"
