"""``Ingress``: the one process that holds the platform connections of a cluster (issue 14).

Usage::

    await run_ingress(settings, adapters=[OneBot11Adapter()])    # until SIGINT or SIGTERM
    # in-process (tests, or a program of your own):
    async with Ingress(settings, adapters=[adapter]) as ingress:
        ...

It is an ``App`` that loads no plugin (``loads_plugins = False``): adapters start it, and call
its ``dispatch(event)``, as they would any app. ``dispatch`` only queues the event; three loops
do the rest, each with its own Redis calls:

**Forwarding** (one task, so events leave in arrival order). Whatever queued while the previous
batch was in flight is the next batch:

1. one pipelined round trip reads the route hashes of every message event of the batch
   (``layout.event_routes``: the quoted message's, the sender's, the group's);
2. a message's candidates are the workers found there with a count above 0, in route order
   (within one route, by worker id), deduplicated, that this ingress sees alive (asked again
   in this batch if a route names a worker the last poll did not see alive);
3. one pipelined round trip appends every event, in order: to its first candidate's stream
   with ``try`` naming the others, or, with no candidate, to the shard stream of its chat
   (``shard_for(chat_key(...), cluster.shards)``). Notices, requests and meta events go to the
   shard stream of their chat (their group, else their user).

**Sends**: reads ``waiter:out`` in the consumer group ``ingress``; each ``send`` runs as a
task of its own (results come back in any order): the adapter of ``target.platform`` sends,
and a ``result`` (the message id, or the error's text and type name) is appended to the asking
worker's stream, in the same round trip as the acknowledgement.

**Membership**: every ``cluster.heartbeat / 2`` seconds, ``Members.listed()`` gives the live
workers (what step 2 keeps) and the dead ones: a worker listed without a heartbeat (it died,
or it left cleanly and is listed as ``left``: whatever is left in its stream still needs a
worker). One no longer listed at all is only not alive: after Redis restarted empty, live
workers are unlisted until their next heartbeat. Each gets a ``Handover`` (``cluster/handover.py``): crash notices,
its keys released, its unacknowledged events routed again or dropped by the Ledger's state.
A worker is found dead at most ``dead_after`` plus one poll after its last heartbeat.

**Redis down**: the first failure logs one ERROR naming ``WAITER_CLUSTER__REDIS`` and the
address (password redacted); events stay queued, up to ``max_pending`` while it is down
(beyond it the oldest are dropped, counted, with a WARNING), and the loops retry with a
growing delay (up to one heartbeat). The first success afterwards logs one INFO line. Stopping cancels the loops'
calls: it never waits for Redis. Events still queued when the ingress stops are forwarded
within ``session.shutdown_grace`` if Redis answers, and reported as lost otherwise.

Sends left pending by an earlier ingress that died mid-send are not made again (their
workers have given up waiting, and the platform may have the message already).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections import deque
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from loguru import logger
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from ..app import App
from ..events import Event, MessageChain, MessageEvent, Target
from ..exceptions import DeliveryError, WaiterError
from ..storage.address import redact_url
from . import codec
from ._redis import Guard, connect
from .batch import Batcher
from .delivery import Delivery, Inbox, Outbox, shard_for, shared_stream, worker_stream
from .handover import Handover
from .layout import (
    INGRESS_GROUP,
    OUT_STREAM,
    chat_key,
    event_routes,
    results_stream,
    route_key,
)
from .membership import Members
from .trim import Trimmer

if TYPE_CHECKING:
    from ..adapters.base import Adapter
    from ..config import Settings

__all__ = ["Ingress", "connect", "run_ingress"]

_BATCH = 1000  # events per forwarding round trip, at most
_SEND_READ = 100  # sends read from waiter:out per call
_BLOCK_MS = 500  # how long a read of waiter:out waits for a send (Redis's timer)
_FIRST_DELAY = 0.05  # seconds before the first retry after a Redis failure; doubled each time


async def run_ingress(settings: Settings, adapters: Sequence[Adapter]) -> None:
    """Run an ingress with ``adapters`` until SIGINT or SIGTERM (``waiter-sdk ingress``)."""
    await Ingress(settings, adapters=adapters).serve()


class Ingress(App):
    """The platform side of a cluster: adapters in, events to the workers' streams, their
    sends back out. See the module docstring."""

    loads_plugins = False

    def __init__(
        self,
        settings: Settings | None = None,
        adapters: Iterable[Adapter] = (),
        *,
        client: Redis | None = None,
        max_pending: int = 10_000,
        name: str | None = None,
    ) -> None:
        super().__init__(settings, plugins=(), adapters=adapters)
        if max_pending < 1:
            raise ValueError(f"max_pending must be 1 or more, not {max_pending}")
        self.cluster = self.settings.cluster
        self.max_pending = max_pending
        # Who holds a handover lock: unique per ingress process.
        self.name = name or f"ingress-{socket.gethostname()}-{secrets.token_hex(4)}"
        self.describe = f"Redis at WAITER_CLUSTER__REDIS={redact_url(self.cluster.redis)}"
        self.dropped = 0  # events dropped because the queue was full (Redis unreachable)
        self.live: frozenset[str] | None = None  # None: not read yet
        self._given_client = client
        self._client: Redis | None = None
        self._queue: deque[Event] = deque()
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()  # a forwarding attempt ended (for stop's flush)
        self._forwarding_batch = False
        self._routing = asyncio.Lock()
        self._down = False
        self._dropping = False
        self._handing_over: dict[str, asyncio.Task[Any]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._sending_loop: asyncio.Task[None] | None = None
        self._stopped: asyncio.Event | None = None  # set once stop() has finished
        self._dropped_before = 0
        self._sends: set[asyncio.Task[None]] = set()
        # Sends answered meanwhile share one round trip (cluster/batch.py).
        self._settles: Batcher[tuple[str, tuple[str, bytes] | None], None] = Batcher(
            self._settle_many, "answers"
        )
        # Set before the loops are cancelled, and checked by each after every await: on 3.11 a
        # redis-py call can swallow a cancellation (asyncio.wait_for, gh-86296), and a loop
        # that went on would never end (the worker's loops do the same).
        self._quit_sending = False
        self._quit = False

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (lazily: Redis may be down, the adapters start anyway), start the loops,
        then the adapters."""
        if self.state != "new":
            raise RuntimeError(f"Ingress.start() called on an ingress that is {self.state}")
        client = self._given_client or connect(self.cluster.redis)
        self._client = client
        self._guard = Guard(client, self.describe, 50, DeliveryError)
        self._outbox = Outbox(client, describe=self.describe)
        self._members = Members(client, self.cluster.dead_after, describe=self.describe)
        self._trimmer = Trimmer(client, describe=self.describe)
        self._out = Inbox(
            client, self.name, [OUT_STREAM], group=INGRESS_GROUP, describe=self.describe
        )
        self._handover = Handover(
            client,
            self.cluster,
            holder=self.name,
            send=self._send_notice,
            reroute=self._requeue,
            routing=self._routing,
            describe=self.describe,
        )
        loop = asyncio.get_running_loop()
        self._sending_loop = loop.create_task(self._sending(), name="ingress-sends")
        self._loops = [
            loop.create_task(self._forwarding(), name="ingress-forwarding"),
            loop.create_task(self._watching(), name="ingress-membership"),
            self._sending_loop,
        ]
        try:
            await super().start()
        except BaseException:
            await self._close()
            raise

    async def stop(self) -> None:
        """Stop reading sends (those under way finish while the adapters are up), stop the
        adapters, forward what is still queued if Redis answers, then close."""
        if self._stopped is not None:
            # serve() stops again once the app part has closed: wait for the first stop.
            await self._stopped.wait()
            return
        if self.state != "running":
            await super().stop()
            await self._close()
            return
        self._stopped = asyncio.Event()
        grace = self.settings.session.shutdown_grace
        try:
            if self._sending_loop is not None:
                self._quit_sending = True
                await _cancel([self._sending_loop])
            if self._sends:
                await asyncio.wait(set(self._sends), timeout=grace)
            await _cancel(list(self._sends))
            await super().stop()
            await self._flush(grace)
        finally:
            await self._close()
            self._stopped.set()

    async def _flush(self, grace: float) -> None:
        deadline = asyncio.get_running_loop().time() + grace
        while (self._queue or self._forwarding_batch) and not self._down:
            self._progress.clear()
            try:
                async with asyncio.timeout_at(deadline):
                    await self._progress.wait()
            except TimeoutError:
                break
        if self._queue:
            logger.warning(
                "{} events were not forwarded: the ingress stopped while {} was unreachable",
                len(self._queue),
                self.describe,
            )
            self._queue.clear()

    async def _close(self) -> None:
        self._quit = self._quit_sending = True
        await _cancel([*self._loops, *self._sends, *self._handing_over.values()])
        await self._settles.aclose()
        self._loops = []
        client, self._client = self._client, None
        if client is not None and self._given_client is None:
            await client.aclose()

    # --- events in -----------------------------------------------------------------------

    def dispatch(self, event: Event) -> None:
        """Queue ``event`` for the forwarding loop (synchronous, never blocks)."""
        if self.state not in ("running", "stopping") or not self._loops:
            logger.warning("event dropped: the ingress is {} ({!r})", self.state, event)
            return
        # The bound is for an outage only: while Redis answers, a burst is forwarded as fast as
        # round trips allow and then waits in the streams, where the workers' read bound
        # paces it; dropping there would lose events to a merely busy cluster.
        if self._down and len(self._queue) >= self.max_pending:
            self._queue.popleft()
            self.dropped += 1
            if not self._dropping:
                self._dropping = True
                logger.warning(
                    "the ingress holds {} events (Redis is unreachable): dropping the oldest",
                    self.max_pending,
                )
        self._queue.append(event)
        self._wake.set()

    def _requeue(self, events: list[Event]) -> None:
        # A dead worker's events: older than anything queued, so they go first.
        self._queue.extendleft(reversed(events))
        if events:
            self._wake.set()

    async def _forwarding(self) -> None:
        delay = _FIRST_DELAY
        while not self._quit:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._queue.popleft() for _ in range(min(len(self._queue), _BATCH))]
            self._forwarding_batch = True
            try:
                async with self._routing:
                    await self._forward(batch)
            except WaiterError as exc:
                self._queue.extendleft(reversed(batch))
                await self._failed(exc)
                self._forwarding_batch = False
                self._progress.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.cluster.heartbeat)
                continue
            self._forwarding_batch = False
            self._progress.set()
            self._ok()
            delay = _FIRST_DELAY

    async def _forward(self, batch: list[Event]) -> None:
        live = self.live if self.live is not None else await self._poll()
        routes = {r: None for e in batch if isinstance(e, MessageEvent) for r in event_routes(e)}
        found: dict[str, dict[str, int]] = {}
        if routes:
            async with self._guard("look up the routes of incoming messages") as client:
                pipe = client.pipeline(transaction=False)
                for route in routes:
                    pipe.hgetall(route_key(route))
                for route, fields in zip(routes, await pipe.execute(), strict=True):
                    found[route] = {_text(w): _int(n) for w, n in fields.items()}
        named = {w for workers in found.values() for w, n in workers.items() if n > 0}
        if not named <= live:
            # A route names a worker this ingress did not see alive at its last poll: one
            # that just came back (after a Redis restart its routes reappear with its first
            # heartbeat), or a dead one not handed over yet. Ask now rather than send the
            # message to its chat's shard, whose reader may not hold the session.
            listed = await self._members.listed()
            live = self.live = frozenset(w for w, up in listed.items() if up)
        entries: list[tuple[str, bytes]] = []
        for event in batch:
            tries: list[str] = []
            group: str | None
            user: str | None
            if isinstance(event, MessageEvent):
                for route in event_routes(event):
                    for worker, count in sorted(found.get(route, {}).items()):
                        if count > 0 and worker in live and worker not in tries:
                            tries.append(worker)
                group, user = event.group_id, event.sender_id
            else:
                group, user = getattr(event, "group_id", None), getattr(event, "user_id", None)
            try:
                if tries:
                    stream = worker_stream(tries[0])
                else:
                    chat = chat_key(event.platform, event.self_id, group, user)
                    stream = shared_stream(shard_for(chat, self.cluster.shards))
                payload = codec.encode_event(
                    event, ledger_key=codec.ledger_key(event), tries=tries[1:]
                )
            except (TypeError, ValueError) as exc:
                logger.warning("event dropped: it cannot cross the cluster ({}): {!r}", exc, event)
                continue
            entries.append((stream, payload))
        await self._outbox.send_many(entries)

    # --- membership ----------------------------------------------------------------------

    async def _watching(self) -> None:
        interval = self.cluster.heartbeat / 2
        while not self._quit:
            try:
                await self._poll()
            except WaiterError as exc:
                await self._failed(exc)
            else:
                self._ok()
            await asyncio.sleep(interval)

    async def _poll(self) -> frozenset[str]:
        # The sends every ingress has answered go (cluster/trim.py); the rest stay.
        await self._trimmer.trim([OUT_STREAM], INGRESS_GROUP)
        listed = await self._members.listed()
        live = frozenset(w for w, up in listed.items() if up)
        # Listed without a heartbeat: it died, or it left (its entry says so). A worker no
        # longer listed at all is not handed over: that is what a Redis restarted empty
        # looks like for live workers, until their next heartbeat lists them again.
        gone = sorted(w for w, up in listed.items() if not up and w not in self._handing_over)
        self.live = live
        for worker in gone:
            info = await self._members.info(worker)
            left = bool(info and info.get("left"))
            task = asyncio.get_running_loop().create_task(
                self._hand_over(worker, left=left), name=f"ingress-handover-{worker}"
            )
            self._handing_over[worker] = task
        return live

    async def _hand_over(self, worker: str, left: bool) -> None:
        try:
            await self._handover.run(worker, left=left)
        except WaiterError as exc:
            # Retried at the next poll: the worker is still listed.
            await self._failed(exc)
        finally:
            self._handing_over.pop(worker, None)

    async def _send_notice(self, target: Target, chain: MessageChain) -> object:
        return await self.adapter_for(target.platform).send(target, chain)

    # --- sends ---------------------------------------------------------------------------

    async def _sending(self) -> None:
        delay = _FIRST_DELAY
        while not self._quit_sending:
            try:
                got = await self._out.read(count=_SEND_READ, block_ms=_BLOCK_MS)
            except WaiterError as exc:
                await self._failed(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.cluster.heartbeat)
                continue
            delay = _FIRST_DELAY
            for delivery in got:
                task = asyncio.get_running_loop().create_task(self._carry_out(delivery))
                self._sends.add(task)
                task.add_done_callback(self._sends.discard)

    async def _carry_out(self, delivery: Delivery) -> None:
        try:
            envelope = codec.decode(delivery.payload)
            if envelope["t"] != "send":
                raise ValueError(f"expected a 'send' envelope, not {envelope['t']!r}")
            rid, worker, target, chain, reply_to = codec.send_of(envelope)
            stream = results_stream(worker)
        except ValueError as exc:
            logger.warning("dropped unreadable send {} ({})", delivery.id, exc)
            await self._settle(delivery, None)
            return
        try:
            adapter = self.adapter_for(target.platform)
            message_id = str(await adapter.send(target, chain, reply_to=reply_to))
        except Exception as exc:
            error = str(exc) or type(exc).__name__
            result = codec.encode_result(rid, error=error, error_type=type(exc).__name__)
        else:
            result = codec.encode_result(rid, message_id)
        await self._settle(delivery, (stream, result))

    async def _settle(self, delivery: Delivery, answer: tuple[str, bytes] | None) -> None:
        # The answer and the acknowledgement in one round trip. If Redis fails, they are tried
        # again until the worker stops waiting (send_timeout): the platform has the message,
        # and a worker told nothing would report a send that worked as timed out. Appending
        # the answer twice is harmless (the worker drops a result it no longer waits for);
        # the send itself is never made again, as that could double the message.
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.cluster.send_timeout
        delay = _FIRST_DELAY
        while True:
            try:
                await self._settles.submit((delivery.id, answer))
                return
            except WaiterError as exc:
                await self._failed(exc)
                if loop.time() + delay > give_up:
                    logger.warning(
                        "the answer to send {} could not reach its worker before it stopped "
                        "waiting; the message was sent",
                        delivery.id,
                    )
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.cluster.heartbeat)

    async def _settle_many(self, items: list[tuple[str, tuple[str, bytes] | None]]) -> list[None]:
        # The answers and acknowledgements of every send settled meanwhile: one round trip.
        ids = [entry_id for entry_id, _ in items]
        async with self._guard(f"answer {len(ids)} sends") as client:
            pipe = client.pipeline(transaction=False)
            for _, answer in items:
                if answer is not None:
                    pipe.xadd(answer[0], {"payload": answer[1]})
            pipe.xack(OUT_STREAM, INGRESS_GROUP, *ids)
            await pipe.execute()
        return [None] * len(items)

    # --- Redis up and down ---------------------------------------------------------------

    async def _failed(self, exc: BaseException) -> None:
        # The idle connections of the pool may be dead too (a restarted server closed them
        # all); dropped now, each would fail its next command once the server is back, and
        # say "unreachable" again after "answers again".
        if self._client is not None:
            with contextlib.suppress(OSError, redis_errors.RedisError):
                await self._client.connection_pool.disconnect(inuse_connections=False)
        if self._down:
            return
        self._down = True
        self._dropped_before = self.dropped
        logger.error(
            "the cluster's Redis is unreachable ({}); {} events are kept (up to {}) and "
            "retried; check WAITER_CLUSTER__REDIS",
            exc,
            len(self._queue),
            self.max_pending,
        )

    def _ok(self) -> None:
        if not self._down:
            return
        self._down = False
        lost = self.dropped - self._dropped_before
        dropped = f"; {lost} events were dropped meanwhile" if lost else ""
        self._dropping = False
        logger.info("the cluster's Redis answers again ({}){}", self.describe, dropped)


async def _cancel(tasks: Sequence[asyncio.Task[Any]]) -> None:
    me = asyncio.current_task()
    pending = {t for t in tasks if t is not me}
    while pending:
        # Again every second: a cancellation a library call swallowed (above) is delivered at
        # the task's next await instead of leaving stop() waiting for ever.
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
    for task in tasks:
        if task is not me and not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it as never retrieved


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _int(raw: Any) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return 0
