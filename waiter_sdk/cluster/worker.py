"""``Worker``: one worker process of a cluster: the plugins, their sessions, fed from Redis.

Usage::

    await run_worker(settings, plugins=["example_plugins"])      # until SIGINT/SIGTERM

    async with Worker(settings, plugins=[Parrot]) as worker:     # in-process (tests)
        ...                                                      # worker.worker_id, worker.app

A worker is an ordinary ``App`` (plugins, storage, sessions) with three parts swapped in by a
subclass only the worker builds, so a single-process bot pays nothing for them:

- its session registry is a ``ClusterRegistry`` (``sessions.py``): sessions claim their keys
  and routes in Redis;
- its one adapter is an ``IngressSink`` (``sink.py``): every send goes through the ingress;
- each event it dispatches carries a callback that runs once the event is handled: a session
  took it, or the plugin handlers it reached have finished (the bus's ``on_finish``).

**Reading.** One loop reads ``waiter:in:<me>`` and the shared streams of the shards assigned to
this worker: ``assigned_shards(index of me among the sorted live workers, how many, shards)``,
recomputed every heartbeat from ``Members.live()``. A shard this worker gains is swept with
``claim_stale(min_idle_ms = dead_after)`` for the next ``2 * dead_after`` seconds, so what its
previous reader left unacknowledged (it died, or it stopped) is taken over.

**Each batch, in order.** ``result`` envelopes finish their send; ``replaced`` ends the session
named, once Redis confirms another worker holds it; an undecodable payload is logged (WARNING,
with its entry id) and acknowledged. An ``event`` is forwarded, not handled, when it is a
message no session here takes and (a) its ``try`` list names another worker (it goes to the
first, with the rest), or (b) it came on this worker's own stream with nothing left to try (a
route that proved wrong): it goes to its chat's shard stream, so the chat's plugin handling
stays with that shard's reader. After ``MAX_HOPS`` forwards it is handled wherever it is.
Every other event is handled here: ``Ledger.begin`` for the whole batch in one script (a
message someone began already is acknowledged without handling: DEBUG if it was done, WARNING
if it was only begun, as its worker died or stopped mid-way), then ``dispatch`` in order.

**Acknowledging.** A forwarded event is acknowledged once the forward is appended. A handled
one once handled (above), after ``Ledger.done``; both batched per loop turn. So a worker that
dies leaves its unfinished events pending for the ingress (its own stream) or the shard's next
reader (``claim_stale``), and the ledger stops a second handling.

**Heartbeat** (every ``cluster.heartbeat``): the shard assignment from the live workers,
``Members.beat`` (publishing the view it came from), ``ClusterRegistry.refresh`` (keep the
keys, re-claim after a Redis restart), then trimming. A Redis that does not
answer is one ERROR line (``Outage``); sessions go on locally, and every loop retries with a
bounded backoff; one INFO line when it answers again.

**Clean stop**: no new event is handled (those read from now on stay pending, for the ingress
or the next reader); the app stops, so sessions end while sends still work (results are still
read); the releases and acknowledgements are applied; then the worker removes its routes,
notify entries and membership. Its stream is left for the ingress, which hands over whatever
is still in it and deletes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import os
import signal
import socket
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Self

from loguru import logger
from redis.asyncio import Redis

from .._bus import Place
from .._gate import current_gate
from .._tasks import TaskSet
from ..app import App
from ..events import Event, MessageEvent
from ..exceptions import DeliveryError, OwnershipError
from ..plugins.loader import PluginSpec
from ..session._context import current_scope
from ..session.controller import SessionController
from ..session.registry import Release, SessionRegistry
from ..storage.address import redact_url
from . import codec
from ._outage import Outage
from ._redis import connect
from .delivery import Delivery, Inbox, Ledger, Outbox, assigned_shards, shard_for, shared_stream
from .delivery import worker_stream as stream_of
from .layout import GROUP, chat_key, results_stream
from .membership import Members
from .sessions import ClusterRegistry
from .sink import IngressSink
from .trim import Trimmer

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["MAX_HOPS", "Worker", "run_worker"]

MAX_HOPS = 8  # forwards of one event before a worker handles it wherever it is
_BATCH = 100  # entries read per stream per call
# Events dispatched here and not yet handled, at most: past it the read loop waits, and the
# events wait in Redis (that is what the streams are for). Without a bound a burst spawns a
# handler task per event at once, and the loop, busy with them, misses its heartbeats and
# is taken for dead.
MAX_IN_FLIGHT = 512


class _WorkerApp(App):
    """The App of a worker: a ``ClusterRegistry``, the sink for every platform, and events
    that report when they are handled (``handle``). Only ``Worker`` builds it."""

    def __init__(
        self,
        settings: Settings,
        plugins: Sequence[PluginSpec],
        sink: IngressSink,
        make_registry: Callable[[Release, int], ClusterRegistry],
    ) -> None:
        self._make_registry = make_registry
        super().__init__(settings, plugins, adapters=[sink])
        self.sink = sink
        # Events dispatched and not yet handled, with what to call once they are.
        self._tracked: dict[Event, Callable[[], None]] = {}
        # Events whose handlers run now: a handler that opens a session has handled its
        # event (below, _session_opened), however long it then waits in the session.
        self._running: dict[Event, Callable[[], None]] = {}

    def _new_registry(self) -> SessionRegistry:
        return self._make_registry(self._release, self.settings.session.max_queue)

    def adapter_for(self, platform: str) -> IngressSink:
        return self.sink  # the ingress holds the platform connections, whichever

    def handle(self, event: Event, done: Callable[[], None]) -> bool:
        """Dispatch ``event``; ``done()`` once handled. False: not dispatched (stopping)."""
        if self.state != "running":
            return False
        done = _Once(done)
        if isinstance(event, MessageEvent):
            self._tracked[event] = done
            self.dispatch(event)  # through _route below
            return True
        # dispatch() for the other events, with the end of their handlers reported.
        event._context = self
        if self._listeners["incoming"]:
            self._notify_listeners("incoming", event)
        selected = self.bus.select(event)
        if selected:
            self.bus.spawn(event, selected, on_finish=done)
        else:
            done()
        return True

    def _route(self, event: MessageEvent, place: Place | None = None) -> None:
        super()._route(event, place)
        done = self._tracked.get(event)
        if done is None:
            return  # not one of ours, or handed to the handlers (_publish took it)
        gate = self._gates.holds(event)
        if gate is not None and any(held is event for held, _ in gate.held):
            return  # held at its sender's gate: it comes back here when the gate opens
        # A session took it, an exit word ended one, or no handler wanted it: handled.
        del self._tracked[event]
        done()

    def _publish(self, event: MessageEvent, place: Place | None = None) -> None:
        done = self._tracked.pop(event, None)
        if done is None:
            super()._publish(event, place)  # what a session handed back: acknowledged already
            return
        # App._publish, with the handlers' end reported (kept apart so one process pays no
        # closure per message).
        selected = self.bus.select(event)
        if not selected:
            if place is not None:
                self.bus.release(place)
            done()
            return
        running = self._running
        running[event] = done

        def finished() -> None:
            running.pop(event, None)
            done()

        gate = self._gates.close(event)
        if gate is None:
            self.bus.spawn(event, selected, on_finish=finished, place=place)
            return
        context = contextvars.Context()
        context.run(current_gate.set, gate)
        opened = self._gates.open

        def finish() -> None:
            try:
                opened(gate)
            finally:
                finished()

        self.bus.spawn(event, selected, context, finish, place)

    def _session_opened(self, session: SessionController) -> None:
        super()._session_opened(session)
        scope = current_scope.get()
        if scope is not None and scope.event is not None:
            done = self._running.pop(scope.event, None)
            if done is not None:
                # Handled: its handler opened a conversation. Acknowledged now, not when the
                # session ends minutes later: a pending entry that old would be taken over
                # as a dead worker's, hold back trimming, and hold a slot of the read bound.
                # If this worker dies meanwhile, the session dies with it and is told.
                done()

    def forget_tracked(self) -> int:
        """Drop what was never handled (the app stopped first); how many."""
        count = len(self._tracked)
        self._tracked.clear()
        return count


class _Forward(NamedTuple):
    """Where a forwarded event goes: ``worker``'s own stream if still listed, else ``stream``
    (the chat's shard); ``worker`` None: straight to ``stream``."""

    worker: str | None
    stream: str


class _Once:
    """A callback that runs at most once (a handled event is acknowledged once, whether its
    session opened first or its handlers finished first)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn: Callable[[], None] | None = fn

    def __call__(self) -> None:
        fn, self.fn = self.fn, None
        if fn is not None:
            fn()


class _Backoff:
    """Waits between retries against a failing Redis: doubling, up to ``cap`` seconds."""

    __slots__ = ("cap", "delay")

    def __init__(self, cap: float) -> None:
        self.cap = cap
        self.delay = 0.0

    async def wait(self) -> None:
        self.delay = min(self.cap, max(0.05, self.delay * 2))
        await asyncio.sleep(self.delay)

    def reset(self) -> None:
        self.delay = 0.0


def _fresh_id() -> str:
    host = socket.gethostname().replace(":", "-") or "host"
    return f"{host}-{os.getpid()}-{os.urandom(3).hex()}"


class Worker:
    """One worker of the cluster, in this process: ``async with Worker(settings) as w: ...``.

    ``settings.cluster`` says where Redis is and how often to beat; ``plugins`` are loaded as
    ``App(plugins=...)`` would. When ``WAITER_STORAGE`` was not set explicitly, the plugins'
    storage uses the cluster's Redis too (every worker must see the same data).
    """

    def __init__(
        self,
        settings: Settings,
        plugins: Sequence[PluginSpec] = (),
        *,
        worker_id: str | None = None,
    ) -> None:
        cluster = settings.cluster
        if "storage" not in settings.model_fields_set:
            settings = settings.model_copy(update={"storage": cluster.redis})
        elif settings.storage.partition(":")[0].lower() == "sqlite":
            logger.warning(
                "WAITER_STORAGE is SQLite while running as a worker: fine when every worker "
                "runs on this host, wrong across hosts (each would keep its own data); "
                "unset it to use the cluster's Redis"
            )
        self.settings = settings
        self.worker_id = worker_id or cluster.worker_id or _fresh_id()
        stream_of(self.worker_id)  # refuses an id that cannot name a stream, now
        self.own_stream = stream_of(self.worker_id)
        self._plugins = list(plugins)
        self.address = redact_url(cluster.redis)
        self.describe = f"the cluster's Redis (WAITER_CLUSTER__REDIS={self.address})"
        self.outage = Outage(self.address, f"worker {self.worker_id}", self._drop_idle)
        # A blocked read answers after block_ms: short enough to pick up a new assignment and
        # to stop promptly, and well inside the socket timeout.
        self.block_ms = max(1, round(min(cluster.heartbeat, 1.0) * 1000))
        self._timeout = max(5.0, cluster.heartbeat * 3)
        self._tasks = TaskSet()
        self._lock = asyncio.Lock()  # held while a batch is being handled
        self._stopping = False
        # Set before the loops are cancelled, and checked by each after every await: on 3.11 a
        # redis-py call can swallow a cancellation (asyncio.wait_for, gh-86296), and a loop
        # that went on would never end.
        self._quit = False
        self._state = "new"
        self._backlog: list[Delivery] = []
        self._acks: list[Delivery] = []
        self._done_keys: list[str] = []
        self._flush_wake = asyncio.Event()
        self._shard_streams: list[str] = []
        self._view: list[str] = []  # the live workers the current shard assignment is from
        self._read_view: list[str] = []  # the view of the inbox the read loop reads with now
        self._in_flight = 0  # dispatched, not yet handled: see MAX_IN_FLIGHT
        self._room = asyncio.Event()
        self._sweeps: dict[str, float] = {}  # gained shard stream -> sweep until (loop time)
        self._sweep_due = False
        self._client: Redis | None = None
        self._app: _WorkerApp | None = None
        self._inbox: Inbox | None = None

    # --- parts, once started ----------------------------------------------------------------

    @property
    def app(self) -> App:
        if self._app is None:
            raise RuntimeError("the worker has not started")
        return self._app

    @property
    def registry(self) -> ClusterRegistry:
        registry = self.app.session_registry
        assert isinstance(registry, ClusterRegistry)
        return registry

    @property
    def shard_streams(self) -> list[str]:
        """The shared streams this worker reads now."""
        return list(self._shard_streams)

    # --- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Join the cluster: first heartbeat, load the plugins, then read. A Redis that cannot
        be reached now fails the start (``DeliveryError`` naming it)."""
        if self._state != "new":
            raise RuntimeError(f"Worker.start() called on a worker that is {self._state}")
        self._state = "starting"
        cluster = self.settings.cluster
        client = self._client = connect(cluster.redis, self._timeout)
        self._trimmer = Trimmer(client, describe=self.describe)
        try:
            self.members = Members(client, cluster.dead_after, describe=self.describe)
            await self.members.beat(self.worker_id, self._info())
            self.ledger = Ledger(client, cluster.ledger_ttl, describe=self.describe)
            self.outbox = Outbox(client, describe=self.describe)
            sink = IngressSink(
                client,
                self.worker_id,
                send_timeout=cluster.send_timeout,
                settled=self._settled,
                describe=self.describe,
            )

            def make_registry(release: Release, max_queue: int) -> ClusterRegistry:
                return ClusterRegistry(
                    release,
                    max_queue,
                    client=client,
                    worker_id=self.worker_id,
                    ttl=cluster.ownership_ttl,
                    outage=self.outage,
                    describe=self.describe,
                )

            self._app = _WorkerApp(self.settings, self._plugins, sink, make_registry)
            self.sink = sink
            await self._app.start()
            self._assign(await self.members.live())
            self._tasks.spawn(self._read_loop(), name="waiter-sdk-worker-read")
            self._tasks.spawn(self._heartbeat_loop(), name="waiter-sdk-worker-heartbeat")
            self._tasks.spawn(self._flush_loop(), name="waiter-sdk-worker-acks")
            self._tasks.spawn(self._results_loop(), name="waiter-sdk-worker-results")
        except BaseException:
            await self._close(leave=True)
            raise
        self._state = "running"
        logger.info(
            "worker {} joined the cluster at {} (reading {} and {} shard streams)",
            self.worker_id,
            self.address,
            self.own_stream,
            len(self._shard_streams),
        )

    async def stop(self) -> None:
        """Leave cleanly: sessions end while sends still work, what was handled is
        acknowledged, and this worker's routes and membership are removed."""
        if self._state != "running":
            return
        self._state = "stopping"
        await self._close(leave=True)
        logger.info("worker {} left the cluster", self.worker_id)

    async def wait_closed(self) -> None:
        """Wait until the app stopped (``stop()``, or a plugin asked the app to stop)."""
        await self.app.wait_closed()

    async def _close(self, *, leave: bool) -> None:
        self._stopping = True
        async with self._lock:
            # No batch is half-handled now; from here on events stay pending.
            self._assign([])
        try:
            if self._app is not None:
                await self._app.stop()
                dropped = self._app.forget_tracked()
                if dropped:
                    logger.debug("{} events read at the stop were not handled", dropped)
                await self.registry.aclose()
            await self._flush()
            self._quit = True
            self._flush_wake.set()
            await self._tasks.aclose()
            if leave and self._client is not None:
                try:
                    if self._app is not None:
                        await self.registry.forget()
                    await self.members.leave(self.worker_id)
                except (DeliveryError, OwnershipError) as exc:
                    logger.warning("worker {} could not leave cleanly: {}", self.worker_id, exc)
        finally:
            self._state = "stopped"
            if self._client is not None:
                await self._client.aclose()

    def _handed_over(self) -> None:
        # Taken for dead: the ingress told these sessions' users that they ended, released
        # their keys and routes, and sent this worker's waiting events elsewhere. Claiming them
        # again (as after a Redis restart) would carry on conversations their users were told
        # are over; they end here too, and the worker goes on as a new member.
        ended = [session for session in self.registry if session.reason is None]
        for session in ended:
            session._end("replaced")
        logger.warning(
            "worker {} was taken for dead (no heartbeat for {} s) and handed over; its {} "
            "sessions end, as their users were told; it goes on as a new member",
            self.worker_id,
            self.settings.cluster.dead_after,
            len(ended),
        )

    def _drop_idle(self) -> None:
        client = self._client
        if client is not None and not self._quit:
            self._tasks.spawn(client.connection_pool.disconnect(inuse_connections=False))

    def _info(self) -> dict[str, Any]:
        # "view": the live workers the shard assignment was computed from at this very
        # heartbeat; "reading": those of the assignment the read loop reads with (it switches
        # between reads, so a read blocked on an older assignment's streams has ended). When
        # both name every live worker, on every worker, each has taken its share after a join
        # and dropped the rest: what an operator (or a test) waits for.
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "view": self._view,
            "reading": self._read_view,
            "shards": len(self._shard_streams),
        }

    async def _settled(self) -> None:
        # The sink's barrier: claims queued before a send are visible before it goes out.
        if self._app is not None:
            await self.registry.settled()

    # --- shards ----------------------------------------------------------------------------

    def _assign(self, live: Sequence[str]) -> None:
        assert self._client is not None
        streams: list[str] = []
        if not self._stopping:
            workers = sorted({*live, self.worker_id})  # we beat just now, whatever Redis said
            self._view = workers
            index = workers.index(self.worker_id)
            shards = assigned_shards(index, len(workers), self.settings.cluster.shards)
            streams = [shared_stream(s) for s in shards]
        if streams == self._shard_streams and self._inbox is not None:
            return
        gained = [s for s in streams if s not in self._shard_streams]
        self._shard_streams = streams
        self._inbox = Inbox(
            self._client, self.worker_id, [self.own_stream, *streams], describe=self.describe
        )
        if gained:
            until = asyncio.get_running_loop().time() + 2 * self.settings.cluster.dead_after
            for stream in gained:
                self._sweeps[stream] = until
            self._sweep_due = True
        for stream in [s for s in self._sweeps if s not in streams]:
            del self._sweeps[stream]
        logger.debug("worker {} reads shards {}", self.worker_id, streams)

    # --- the loops --------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        period = self.settings.cluster.heartbeat
        while not self._quit:
            await asyncio.sleep(period)
            try:
                # The assignment first, so the heartbeat publishes the view it was made from
                # (after a Redis restart, the first beats see a smaller membership).
                self._assign(await self.members.live())
                if await self.members.beat(self.worker_id, self._info()):
                    self._handed_over()
                await self.registry.refresh()
                # What every reader of these streams has acknowledged goes (cluster/trim.py).
                await self._trimmer.trim(
                    [self.own_stream, results_stream(self.worker_id), *self._shard_streams],
                    GROUP,
                )
            except (DeliveryError, OwnershipError) as exc:
                self.outage.failed(exc)
                continue
            self.outage.ok()
            if self._sweeps:
                self._sweep_due = True

    async def _read_loop(self) -> None:
        backoff = _Backoff(min(2.0, self.settings.cluster.heartbeat))
        while not self._quit:
            inbox = self._inbox
            assert inbox is not None
            self._read_view = self._view
            if self._in_flight >= MAX_IN_FLIGHT:
                self._room.clear()
                await self._room.wait()
                continue
            try:
                if self._sweep_due and not self._stopping:
                    self._sweep_due = False
                    self._backlog += await self._sweep(inbox)
                # COUNT is per stream: split the room left between them, so one read cannot
                # overshoot the bound by more than a message per stream.
                room = MAX_IN_FLIGHT - self._in_flight
                count = max(1, min(_BATCH, room // len(inbox.streams)))
                found = await inbox.read(count=count, block_ms=self.block_ms)
            except DeliveryError as exc:
                self.outage.failed(exc)
                await backoff.wait()
                continue
            self.outage.ok()
            self._backlog += found
            if not self._backlog or self._quit:
                backoff.reset()
                continue
            batch, self._backlog = self._backlog, []
            try:
                async with self._lock:
                    await self._process(batch)
            except DeliveryError as exc:
                self.outage.failed(exc)
                await backoff.wait()
            else:
                backoff.reset()

    async def _results_loop(self) -> None:
        # Apart from the events, and never held back by MAX_IN_FLIGHT: the handlers that fill
        # the bound are the ones waiting for these results.
        assert self._client is not None
        inbox = Inbox(
            self._client, self.worker_id, [results_stream(self.worker_id)], describe=self.describe
        )
        backoff = _Backoff(min(2.0, self.settings.cluster.heartbeat))
        while not self._quit:
            try:
                found = await inbox.read(count=_BATCH, block_ms=self.block_ms)
                for delivery in found:
                    try:
                        self.sink.resolve(codec.decode(delivery.payload))
                    except ValueError as exc:
                        logger.warning(
                            "worker {}: result {} dropped, not a payload it can read: {}",
                            self.worker_id,
                            delivery.id,
                            exc,
                        )
                if found:
                    await inbox.ack_many(found)
            except DeliveryError as exc:
                self.outage.failed(exc)
                await backoff.wait()
            else:
                backoff.reset()

    async def _sweep(self, inbox: Inbox) -> list[Delivery]:
        now = asyncio.get_running_loop().time()
        for stream in [s for s, until in self._sweeps.items() if until < now]:
            del self._sweeps[stream]
        if not self._sweeps:
            return []
        idle_ms = max(1, round(self.settings.cluster.dead_after * 1000))
        found = await inbox.claim_stale(idle_ms, count=_BATCH, streams=list(self._sweeps))
        if found:
            logger.info(
                "worker {} took over {} events left unacknowledged on its new shards",
                self.worker_id,
                len(found),
            )
        return found

    async def _process(self, batch: list[Delivery]) -> None:
        """One batch, in order. Raises ``DeliveryError`` with what is left to redo put back."""
        handle: list[tuple[Delivery, Event, str | None]] = []
        forwards: list[tuple[Delivery, _Forward, bytes]] = []
        keys: set[str] = set()
        for delivery in batch:
            item = self._sort(delivery)
            if item is None:
                continue
            if isinstance(item[1], Event):
                key = item[2]
                if key is not None and key in keys:
                    # The same platform message twice in one read (sent again by the
                    # ingress): the ledger would call the second "begun"; it is a duplicate.
                    logger.debug("message {} came twice in one read; acknowledged once", key)
                    self._ack(delivery)
                    continue
                if key is not None:
                    keys.add(key)
                handle.append((delivery, item[1], key))
            else:
                forwards.append((delivery, item[1], item[2]))
        if not handle and not forwards:
            return
        try:
            verdicts = iter(
                await self.ledger.begin_many([key for _, _, key in handle if key is not None])
            )
        except DeliveryError:
            self._backlog[:0] = [d for d, _, _ in handle] + [d for d, _, _ in forwards]
            raise
        app = self._app
        assert app is not None
        for delivery, event, key in handle:
            if key is not None:
                verdict = next(verdicts)
                if verdict is not True:
                    self._refused(delivery, key, verdict)
                    continue
            event.adapter = self.sink
            if app.handle(event, functools.partial(self._handled, delivery, key)):
                self._in_flight += 1
        if forwards:
            try:
                await self._forward(forwards)
            except DeliveryError:
                self._backlog[:0] = [d for d, _, _ in forwards]
                raise
            self._ack(*(d for d, _, _ in forwards))

    async def _forward(self, forwards: list[tuple[Delivery, _Forward, bytes]]) -> None:
        """Append each forward to its worker's stream, or its shard's: a worker that died or
        left since the route was looked up refuses it (its stream may be handed over already),
        and then the chat's shard takes it, which some live worker always reads. The shard
        appends keep the batch's order, refused forwards in their places."""
        to_workers = [(f.worker, payload) for _, f, payload in forwards if f.worker is not None]
        taken = iter(await self.outbox.send_to_workers(to_workers)) if to_workers else iter(())
        to_shards: list[tuple[str, bytes]] = []
        for _, f, payload in forwards:
            if f.worker is not None:
                if next(taken) is not None:
                    continue
                logger.debug("worker {} is gone; forwarded to {} instead", f.worker, f.stream)
            to_shards.append((f.stream, payload))
        await self.outbox.send_many(to_shards)

    def _sort(self, delivery: Delivery) -> tuple[Delivery, Any, Any] | None:
        """What to do with one entry: None (done with it now), (d, event, ledger key) to
        handle here, or (d, _Forward, payload) to forward."""
        try:
            envelope = codec.decode(delivery.payload)
            kind = envelope["t"]
            if kind == "result":
                self.sink.resolve(envelope)
            elif kind == "replaced":
                key = envelope.get("key")
                if not isinstance(key, str):
                    raise ValueError("a replaced envelope needs 'key', a string")
                self.registry.replaced(key)
            elif kind != "event":
                raise ValueError(f"unknown envelope type {kind!r}")
            else:
                if self._stopping:
                    return None  # left pending: for the ingress, or the shard's next reader
                return self._route(delivery, envelope)
        except ValueError as exc:
            logger.warning(
                "worker {}: entry {} on {} dropped, not a payload it can read: {}",
                self.worker_id,
                delivery.id,
                delivery.stream,
                exc,
            )
        self._ack(delivery)
        return None

    def _route(
        self, delivery: Delivery, envelope: dict[str, Any]
    ) -> tuple[Delivery, Any, Any] | None:
        event = codec.event_of(envelope)
        key = envelope.get("key")
        key = key if isinstance(key, str) and key else None
        hops = envelope.get("hops", 0)
        hops = hops if isinstance(hops, int) and hops >= 0 else 0
        tries = [w for w in envelope.get("try") or () if isinstance(w, str) and w]
        tries = [w for w in tries if w != self.worker_id]
        if (
            not isinstance(event, MessageEvent)
            or hops >= MAX_HOPS
            or self.registry.route(event) is not None
        ):
            return delivery, event, key
        if not tries and delivery.stream != self.own_stream:
            return delivery, event, key
        # Tried workers first; else (routed here by a hint that proved wrong) the chat's
        # shard, which keeps the chat's order and is where a gone worker's forward lands too.
        chat = chat_key(event.platform, event.self_id, event.group_id, event.sender_id)
        shard = shared_stream(shard_for(chat, self.settings.cluster.shards))
        target = _Forward(tries[0] if tries else None, shard)
        forwarded = dict(envelope)
        forwarded["try"] = tries[1:]
        forwarded["hops"] = hops + 1
        return delivery, target, codec.encode(forwarded)

    def _refused(self, delivery: Delivery, key: str, verdict: str) -> None:
        if verdict == "begun":
            logger.warning(
                "message {} was begun by a worker and never finished (it may have died "
                "mid-way, or still be at it); not handled again (entry {} on {})",
                key,
                delivery.id,
                delivery.stream,
            )
        else:
            logger.debug("message {} was handled already; entry {} acknowledged", key, delivery.id)
        self._ack(delivery)

    def _handled(self, delivery: Delivery, key: str | None) -> None:
        self._in_flight -= 1
        if self._in_flight < MAX_IN_FLIGHT:
            self._room.set()
        if key is not None:
            self._done_keys.append(key)
        self._ack(delivery)

    def _ack(self, *deliveries: Delivery) -> None:
        self._acks.extend(deliveries)
        self._flush_wake.set()

    async def _flush_loop(self) -> None:
        backoff = _Backoff(min(2.0, self.settings.cluster.heartbeat))
        while not self._quit:
            await self._flush_wake.wait()
            self._flush_wake.clear()
            if await self._flush():
                backoff.reset()
            else:
                await backoff.wait()
                self._flush_wake.set()

    async def _flush(self) -> bool:
        """``Ledger.done`` then the acknowledgements of what is handled; False if Redis failed
        (kept for the next try)."""
        keys, acks = self._done_keys, self._acks
        if not keys and not acks:
            return True
        self._done_keys, self._acks = [], []
        inbox = self._inbox
        try:
            if keys:
                await self.ledger.done_many(keys)
                keys = []
            if acks and inbox is not None:
                await inbox.ack_many(acks)
        except DeliveryError as exc:
            self.outage.failed(exc)
            self._done_keys[:0] = keys
            self._acks[:0] = acks
            return False
        self.outage.ok()
        return True


async def run_worker(settings: Settings, plugins: Sequence[PluginSpec] = ()) -> None:
    """Serve as one worker until SIGINT or SIGTERM (or cancellation), then leave cleanly."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    try:
        async with Worker(settings, plugins) as worker:
            closed = asyncio.ensure_future(worker.wait_closed())
            asked = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({closed, asked}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                closed.cancel()
                asked.cancel()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
