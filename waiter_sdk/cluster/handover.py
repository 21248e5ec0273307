"""``Handover``: the ingress cleaning up after a worker that died (issue 14, item 5).

Usage (the ingress calls it; nothing else does)::

    handover = Handover(client, settings.cluster, holder="ingress-1", send=send,
                        reroute=requeue, routing=lock)
    report = await handover.run("w3")      # w3 is listed in waiter:workers with no heartbeat

A dead worker's sessions are gone with its process: their openers' code cannot go on. What is
left is in Redis, and ``run`` takes it apart in this order:

1. ``waiter:handover:<worker>`` is taken (``SET NX PX``): two ingresses never both tell the
   users. A lock this ingress already holds (a handover that failed half-way) is taken again.
2. If the worker beats again meanwhile (``waiter:alive:<worker>`` exists), nothing is done
   and the lock is let go. While it is held, workers' forwards to the worker's stream are
   refused (``Outbox.send_to_workers``) and go to the chat's shard instead, so nothing is
   appended between reading the stream and deleting it in step 5.
3. Crash notices: every conversation in ``waiter:notify:<worker>`` is sent
   ``cluster.crash_notice`` once (a group with two of its sessions hears it once); an empty or
   unset notice sends nothing. Then its session keys are compare-and-deleted (only where the
   dead worker still owns them, so a user can open a new session at once) and its fields in
   the route hashes it listed in ``waiter:routes:<worker>`` are removed, so no event is routed
   to it any more.
4. Its stream ``waiter:in:<worker>``: every entry it had not acknowledged (read and pending, or
   never read) is looked at. An ``event`` whose message the ``Ledger`` has never seen goes back
   to the ingress's queue (``reroute``), to be routed again from scratch; one the Ledger marks
   ``"begun"`` was being handled when the worker died and is dropped with a WARNING naming its
   message key (handling it again could answer twice); ``"done"`` is dropped silently.
   Results of sends and ``replaced`` notes were for the dead worker only and are dropped.
5. The stream, its notify hash and its route set are deleted and it is no longer listed; a
   ``waiter:gone:<worker>`` key is left for a day. A worker that was alive after all, only late
   (starved or paused past ``dead_after``), finds it at its next heartbeat and ends the sessions
   its users were told about, rather than claiming them again.

One WARNING line sums it up (the worker, how many conversations were told, how many events
went elsewhere). Step 4 runs under ``routing``, the lock the ingress's forwarding batches
hold, so no batch routed with an older view of the live workers appends to the stream
between reading it and deleting it.

A Redis failure half-way raises (``DeliveryError`` or ``OwnershipError``); the ingress runs the
handover again at its next poll, and every step is safe to repeat, except that a
conversation may then hear the notice twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from loguru import logger
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from ..config import ClusterSettings
from ..events import Event, MessageChain, Target
from ..exceptions import DeliveryError
from . import codec
from ._redis import Guard
from .delivery import GROUP, Ledger, worker_stream
from .layout import (
    WORKERS,
    alive_key,
    gone_key,
    handover_key,
    notify_key,
    results_stream,
    route_key,
    routes_of_key,
)
from .ownership import Ownership

__all__ = ["Handover", "HandoverReport"]

Send = Callable[[Target, MessageChain], Awaitable[object]]

_PAGE = 1000  # entries read per XRANGE while walking a dead worker's unread events
_GONE_MS = 86_400_000  # how long a handed-over worker's tombstone waits for it to wake up


@dataclass(frozen=True, slots=True)
class HandoverReport:
    """What one handover did; ``None`` from ``Handover.run`` when it did nothing."""

    worker: str
    told: int  # conversations sent the crash notice
    released: int  # session keys deleted (still owned by the dead worker)
    rerouted: int  # events routed again
    dropped_begun: int  # events dropped: being handled when the worker died
    dropped_done: int  # events dropped: handled already
    dropped_other: int  # results, replaced notes and unreadable entries


class Handover:
    """Cleans up after dead workers; see the module docstring for the steps."""

    __slots__ = (
        "_client",
        "_guard",
        "_holder",
        "_ledger",
        "_reroute",
        "_routing",
        "_send",
        "settings",
    )

    def __init__(
        self,
        client: Redis,
        settings: ClusterSettings,
        *,
        holder: str,
        send: Send,
        reroute: Callable[[list[Event]], None],
        routing: asyncio.Lock,
        describe: str | None = None,
    ) -> None:
        self._client = client
        self.settings = settings
        self._holder = holder
        self._send = send
        self._reroute = reroute
        self._routing = routing
        self._guard = Guard(client, describe, 8, DeliveryError)
        self._ledger = Ledger(client, settings.ledger_ttl, describe=describe)

    async def run(self, worker: str, *, left: bool = False) -> HandoverReport | None:
        """Hand over dead ``worker``'s conversations and events; ``None`` if another ingress
        does it, or the worker turned out to be alive.

        ``left``: the worker is listed as having left (a clean stop); what it left behind
        is handed over all the same, and only said at WARNING level if there was any.
        """
        lock_ms = max(1, round(max(self.settings.ownership_ttl, 10.0) * 1000))
        async with self._guard(f"take over from worker {worker}") as client:
            pipe = client.pipeline(transaction=False)
            pipe.set(handover_key(worker), self._holder, nx=True, px=lock_ms)
            pipe.get(handover_key(worker))
            pipe.exists(alive_key(worker))
            pipe.hgetall(notify_key(worker))
            pipe.smembers(routes_of_key(worker))
            _, held_by, alive, notify, routes = await pipe.execute()
        if _text(held_by) != self._holder:
            return None
        if int(alive):
            # Forwards to a worker refuse while its handover lock exists (send_to_workers):
            # a worker alive after all must not go unreached until the lock expires.
            async with self._guard(f"let go of worker {worker}") as client:
                await client.delete(handover_key(worker))
            return None

        targets: dict[str, Target] = {}
        for raw in notify.values():
            try:
                target = codec.target_of(orjson.loads(raw))
            except (orjson.JSONDecodeError, ValueError) as exc:
                logger.warning("worker {}: an unreadable conversation target ({})", worker, exc)
                continue
            targets.setdefault(orjson.dumps(codec.encode_target(target)).decode(), target)
        told = await self._tell(worker, list(targets.values()))

        keys = [_text(k) for k in notify]
        released = await Ownership(
            self._client, worker, self.settings.ownership_ttl, describe=self._guard.describe
        ).release(keys)
        if routes:
            async with self._guard(f"remove worker {worker} from its routes") as client:
                pipe = client.pipeline(transaction=False)
                for route in routes:
                    pipe.hdel(route_key(_text(route)), worker)
                await pipe.execute()

        async with self._routing:
            stream = worker_stream(worker)
            entries = await self._unacked(stream)
            events, begun, done, other = await self._sort(worker, entries)
            async with self._guard(f"forget worker {worker}") as client:
                pipe = client.pipeline(transaction=True)
                pipe.delete(
                    stream, results_stream(worker), notify_key(worker), routes_of_key(worker)
                )
                pipe.hdel(WORKERS, worker)
                pipe.delete(handover_key(worker))
                # A worker that was only late (starved, paused) learns at its next heartbeat
                # that its sessions were told they ended, instead of claiming them again.
                pipe.set(gone_key(worker), self._holder, px=_GONE_MS)
                await pipe.execute()
            # Back in the queue before the lock is released: the next batch routes them first.
            self._reroute(events)

        report = HandoverReport(worker, told, released, len(events), begun, done, other)
        if left and not (notify or entries):
            logger.debug("worker {} left the cluster with nothing to hand over", worker)
            return report
        notice = "" if self.settings.crash_notice or not notify else " (no crash_notice set)"
        logger.warning(
            "worker {} {}: {} conversations told{}, {} session keys released, {} events "
            "routed to other workers, {} dropped as being handled, {} as handled",
            worker,
            "left" if left else "died",
            told,
            notice,
            released,
            len(events),
            begun,
            done,
        )
        return report

    async def _tell(self, worker: str, targets: Sequence[Target]) -> int:
        text = self.settings.crash_notice
        if not text or not targets:
            return 0

        async def tell(target: Target) -> bool:
            try:
                await self._send(target, MessageChain([text]))
            except Exception as exc:
                logger.warning(
                    "worker {}: could not send the crash notice to {}: {}: {}",
                    worker,
                    target,
                    type(exc).__name__,
                    exc,
                )
                return False
            return True

        sent = await asyncio.gather(*(tell(t) for t in targets))
        return sum(sent)

    async def _unacked(self, stream: str) -> list[tuple[str, bytes]]:
        """``(id, payload)`` of every entry of ``stream`` its group has not acknowledged:
        pending ones (read, never acked), then unread ones, in stream order."""
        async with self._guard(f"read what is left on {stream}") as client:
            try:
                groups: Any = await client.xinfo_groups(stream)
            except redis_errors.ResponseError as exc:
                if "no such key" in str(exc).lower():
                    return []
                raise
            last = "0-0"  # no group yet: nothing was ever read, so every entry is unread
            pending: list[str] = []
            for group in groups:
                if _text(group.get("name")) == GROUP:
                    last = _text(group.get("last-delivered-id"))
                    rows: Any = await client.xpending_range(
                        stream, GROUP, min="-", max="+", count=1_000_000
                    )
                    pending = [_text(row["message_id"]) for row in rows]
            found: list[tuple[str, bytes]] = []
            if pending:
                pipe = client.pipeline(transaction=False)
                for entry_id in pending:
                    pipe.xrange(stream, entry_id, entry_id)
                for got in await pipe.execute():
                    found += [(_text(i), _payload(f)) for i, f in got]
            start = "(" + last
            while True:
                page: Any = await client.xrange(stream, start, "+", count=_PAGE)
                found += [(_text(i), _payload(f)) for i, f in page]
                if len(page) < _PAGE:
                    break
                start = "(" + _text(page[-1][0])
        return found

    async def _sort(
        self, worker: str, entries: Sequence[tuple[str, bytes]]
    ) -> tuple[list[Event], int, int, int]:
        """The events to route again, and how many were dropped as begun, done, or other."""
        candidates: list[tuple[str, Event, str | None]] = []
        other = 0
        for entry_id, payload in entries:
            try:
                envelope = codec.decode(payload)
                if envelope["t"] != "event":
                    other += 1  # a send's result or a replaced note: for the dead worker only
                    continue
                event = codec.event_of(envelope)
                key = envelope.get("key")
                candidates.append((entry_id, event, key if isinstance(key, str) else None))
            except ValueError as exc:
                logger.warning("worker {}: dropped unreadable entry {} ({})", worker, entry_id, exc)
                other += 1
        keys = [key for _, _, key in candidates if key is not None]
        states: dict[str, str | None] = {}
        if keys:
            async with self._guard(f"look up the messages worker {worker} held") as client:
                pipe = client.pipeline(transaction=False)
                for key in keys:
                    pipe.get(self._ledger.prefix + key)
                for key, raw in zip(keys, await pipe.execute(), strict=True):
                    states[key] = None if raw is None else _text(raw)
        events: list[Event] = []
        begun = done = 0
        for _, event, key in candidates:
            state = states.get(key) if key is not None else None
            if state is None:
                events.append(event)
            elif state == "done":
                done += 1
            else:
                begun += 1
                logger.warning(
                    "message {} dropped: it was being handled when worker {} died", key, worker
                )
        return events, begun, done, other


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _payload(fields: Any) -> bytes:
    value = (fields or {}).get(b"payload", (fields or {}).get("payload", b""))
    return value if isinstance(value, bytes) else str(value).encode()
