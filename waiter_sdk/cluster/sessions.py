"""``ClusterRegistry``: a worker's session registry that also records its sessions in Redis.

Usage (the worker builds it; plugins never see the difference)::

    registry = ClusterRegistry(app._release, 64, client=client, worker_id="w1", ttl=30.0)
    registry.open(session)          # as in one process, then a claim is queued for Redis
    await registry.settled()        # every claim, route and release queued so far is applied
    await registry.refresh()        # the heartbeat: keep keys, re-claim after a Redis restart
    await registry.aclose()         # after the app stopped: apply the releases, stop syncing

Local first, Redis after. ``open``, ``add_key`` and ``remove`` do exactly what the in-process
registry does (local conflicts raise ``SessionBusyError`` at once, routing is unchanged and
costs nothing more), then queue an operation for Redis. One task applies the queued operations
in order, everything queued in one loop turn as ONE Lua script call:

- **claim** ``waiter:own:<key>`` (set-if-absent, or take over with ``conflict="replace"``,
  which also appends a ``replaced`` envelope to the previous owner's stream, if it is alive),
  then count the session's routes (``waiter:at:<route>``: this worker's field += 1, expiry
  ``ownership_ttl``), list them in ``waiter:routes:<me>``, and record whom to tell if this
  worker dies in ``waiter:notify:<me>`` (session key -> target JSON);
- **route**: a reply key added to an open session counts one more route (``reply|...``);
- **release**: compare-and-delete the own key, count the routes down (the field goes at 0),
  drop the notify entry;
- **verify**: who owns a key now (a ``replaced`` envelope is checked before it ends anything:
  a stale one must not end a newer session of the same key).

A claim that finds the key held by another worker ends the local session; its opener raises
``SessionBusyError`` naming that worker (a ``session_waiter`` at its ``await``; a botoy
``start_session`` at its next read). Counting is exact: a session's routes are counted in
Redis if and only if its claim succeeded, which the script knows even for a claim and a release
applied in the same call.

Routes of a session (what the ingress looks up, ``layout.py``): ``id|...|<route id>`` when its
filter names a ``route_id``; for a reply session, ``reply|...|<message id>`` for each message
it answers to; for any other filter, the opening chat's id and the sender's id, with a one-time
WARNING per filter class: across workers, such sessions see only messages routed by those ids.

The heartbeat (``refresh``) refreshes every own key that is still this worker's, re-claims the
ones that vanished (Redis restarted without persistence), and ends as ``"replaced"`` the
sessions whose key another worker now holds. Whenever something vanished, or a call failed
earlier (so the counts may be off), it rewrites this worker's routes and notify entries from
the sessions open here, in the same script. A Redis that does not answer never stops a
session: operations that fail are logged once (``Outage``) and repaired by the next heartbeat
that gets through.

Lua scripts here name keys they build (routes, own keys) beside ``KEYS``: fine on one Redis
(with replicas), which is what issue 14 targets, not on a Redis Cluster.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from loguru import logger
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from .._tasks import TaskSet
from ..exceptions import OwnershipError
from ..session.controller import SessionController
from ..session.filters import ReplySessionFilter, SessionFilter
from ..session.keys import SessionKey
from ..session.registry import ConflictPolicy, Release, SessionRegistry
from . import codec
from ._outage import Outage
from ._redis import Guard
from .delivery import STREAM_PREFIX
from .layout import PREFIX, alive_key, id_route, notify_key, reply_route, route_key, routes_of_key
from .ownership import Claim

__all__ = ["OWN_PREFIX", "ClusterRegistry"]

OWN_PREFIX = PREFIX + "own:"

# KEYS: routes_of(me), notify(me). ARGV: me, ttl ms, JSON list of operations, worker stream
# prefix, alive key prefix. Each operation is a list whose first item names it (see below);
# the reply has one entry per operation, in order.
_APPLY = """
local me, ttl = ARGV[1], ARGV[2]
local ops = cjson.decode(ARGV[3])
local counted = {}
local out = {}
local function add(route)
  redis.call('HINCRBY', route, me, 1)
  redis.call('PEXPIRE', route, ttl)
  redis.call('SADD', KEYS[1], route)
end
for i, op in ipairs(ops) do
  local kind = op[1]
  if kind == 'c' then
    -- claim: {'c', sid, own key, session key, replace 0/1, target, {routes}, replaced payload}
    local prev = redis.call('GET', op[3])
    if prev and prev ~= me and op[5] == 0 then
      out[i] = {0, prev}
    else
      redis.call('SET', op[3], me, 'PX', ttl)
      for _, route in ipairs(op[7]) do add(route) end
      redis.call('HSET', KEYS[2], op[4], op[6])
      counted[op[2]] = true
      if prev and prev ~= me and redis.call('EXISTS', ARGV[5] .. prev) == 1 then
        redis.call('XADD', ARGV[4] .. prev, '*', 'payload', op[8])
      end
      out[i] = {1, prev or ''}
    end
  elseif kind == 'a' then
    -- route added: {'a', sid, counted before this call 0/1, route}
    if op[3] == 1 or counted[op[2]] then add(op[4]) end
    out[i] = 1
  elseif kind == 'x' then
    -- release: {'x', sid, counted before this call 0/1, own key, session key, {routes}}
    if redis.call('GET', op[4]) == me then redis.call('DEL', op[4]) end
    if op[3] == 1 or counted[op[2]] then
      for _, route in ipairs(op[6]) do
        if redis.call('HINCRBY', route, me, -1) <= 0 then
          redis.call('HDEL', route, me)
          redis.call('SREM', KEYS[1], route)
        end
      end
      redis.call('HDEL', KEYS[2], op[5])
      counted[op[2]] = nil
    end
    out[i] = 1
  else
    -- verify: {'v', sid, own key}
    out[i] = redis.call('GET', op[3]) or ''
  end
end
return out
"""

# KEYS: routes_of(me), notify(me). ARGV: me, ttl ms, JSON [full 0/1, sessions, unreleased own
# keys], each session [sid, own key, session key, target, {routes}]. Returns {1 if the routes
# and notify entries were rewritten, {sids of sessions another worker holds now}}.
_REFRESH = """
local me, ttl = ARGV[1], ARGV[2]
local data = cjson.decode(ARGV[3])
local sessions = data[2]
local changed = data[1] == 1
local lost, gone = {}, {}
for _, s in ipairs(sessions) do
  local owner = redis.call('GET', s[2])
  if owner == me then
    redis.call('PEXPIRE', s[2], ttl)
  elseif not owner then
    redis.call('SET', s[2], me, 'PX', ttl)
    changed = true
  else
    lost[#lost + 1] = s[1]
    gone[s[1]] = true
    changed = true
  end
end
for _, own in ipairs(data[3]) do
  if redis.call('GET', own) == me then redis.call('DEL', own) end
end
if changed then
  for _, route in ipairs(redis.call('SMEMBERS', KEYS[1])) do redis.call('HDEL', route, me) end
  redis.call('DEL', KEYS[1], KEYS[2])
  local counts, order = {}, {}
  for _, s in ipairs(sessions) do
    if not gone[s[1]] then
      redis.call('HSET', KEYS[2], s[3], s[4])
      for _, route in ipairs(s[5]) do
        if not counts[route] then
          counts[route] = 0
          order[#order + 1] = route
        end
        counts[route] = counts[route] + 1
      end
    end
  end
  for _, route in ipairs(order) do
    redis.call('HSET', route, me, counts[route])
    redis.call('PEXPIRE', route, ttl)
    redis.call('SADD', KEYS[1], route)
  end
else
  local seen = {}
  for _, s in ipairs(sessions) do
    for _, route in ipairs(s[5]) do
      if not seen[route] then
        seen[route] = true
        redis.call('PEXPIRE', route, ttl)
      end
    end
  end
end
return {changed and 1 or 0, lost}
"""

# KEYS: routes_of(me), notify(me). ARGV: me, then own keys to compare-and-delete. A clean stop:
# nothing of this worker's sessions is left for the ingress to clean up.
_FORGET = """
for _, route in ipairs(redis.call('SMEMBERS', KEYS[1])) do redis.call('HDEL', route, ARGV[1]) end
redis.call('DEL', KEYS[1], KEYS[2])
for i = 2, #ARGV do
  if redis.call('GET', ARGV[i]) == ARGV[1] then redis.call('DEL', ARGV[i]) end
end
return 1
"""

ClaimState = Literal["opening", "queued", "held", "refused", "unknown"]


@dataclass(eq=False, slots=True)
class _Held:
    """What this worker put in Redis for one open session."""

    sid: int
    session: SessionController
    own: str  # waiter:own:<key>
    target: str  # JSON: whom the ingress tells if this worker dies
    routes: list[str] = field(default_factory=list)  # route_key(...) names, no duplicates
    # "opening": no claim queued yet (routes added now go into it); "queued": the claim is
    # not applied yet; "held": applied, routes counted; "refused": another worker holds the
    # key; "unknown": the call failed (the next heartbeat repairs it).
    state: ClaimState = "opening"


@dataclass(eq=False, slots=True)
class _Op:
    kind: Literal["c", "a", "x", "v"]
    held: _Held
    replace: bool = False
    routes: tuple[str, ...] = ()


class ClusterRegistry(SessionRegistry):
    """A ``SessionRegistry`` whose sessions also claim their keys and routes in Redis.

    ``client`` as for ``Ownership`` (a plain pool, no retry). ``ttl``: the own keys' and
    routes' expiry (``cluster.ownership_ttl``); the heartbeat must refresh well within it.
    ``outage`` is shared with the rest of the worker, so that one Redis outage is one ERROR.
    """

    __slots__ = (
        "_applied",
        "_dirty",
        "_guard",
        "_held",
        "_ops",
        "_queued",
        "_quit",
        "_refresh_asked",
        "_scripts",
        "_settling",
        "_sids",
        "_sync_tasks",
        "_unreleased",
        "_unrouted_warned",
        "_wake",
        "outage",
        "ttl_ms",
        "worker_id",
    )

    def __init__(
        self,
        release: Release,
        default_max_queue: int = 64,
        *,
        client: Redis,
        worker_id: str,
        ttl: float,
        outage: Outage | None = None,
        describe: str | None = None,
    ) -> None:
        super().__init__(release, default_max_queue)
        if not worker_id:
            raise ValueError("worker_id must be a non-empty string: it is what a key's owner is")
        self.worker_id = worker_id
        self.ttl_ms = max(1, round(ttl * 1000))
        self.outage = outage if outage is not None else Outage(describe or "?")
        self._guard = Guard(client, describe, 8, OwnershipError)
        self._scripts: dict[str, AsyncScript] = {
            name: client.register_script(source)
            for name, source in (("apply", _APPLY), ("refresh", _REFRESH), ("forget", _FORGET))
        }
        self._held: dict[SessionController, _Held] = {}
        self._sids = itertools.count(1)
        self._ops: list[_Op] = []
        self._queued = 0  # operations queued so far
        self._applied = 0  # of which applied (or failed): settled() compares the two
        self._settling: list[tuple[int, asyncio.Future[None]]] = []
        self._refresh_asked: list[asyncio.Future[int]] = []
        self._dirty = False  # a call failed: counts may be off until a refresh rewrites them
        self._unreleased: set[str] = set()  # own keys whose release failed
        self._unrouted_warned: set[type[SessionFilter]] = set()
        self._wake: asyncio.Event | None = None
        self._quit = False  # see Worker._quit: a swallowed cancellation must still end _sync
        self._sync_tasks = TaskSet()

    # --- the in-process registry, then Redis ------------------------------------------------

    def open(self, session: SessionController, conflict: ConflictPolicy = "busy") -> None:
        event = session.event
        held = _Held(
            next(self._sids),
            session,
            OWN_PREFIX + session.key,
            orjson.dumps(codec.encode_target(event.target)).decode(),
        )
        # Before the local open: it may add reply keys (a filter that follows delivered
        # messages), which become routes of the claim itself.
        self._held[session] = held
        try:
            super().open(session, conflict)
        except BaseException:
            self._held.pop(session, None)
            raise
        if session.reason is not None:
            return  # ended while opening (a listener stopped it): remove() saw to it
        base = self._base_routes(session)
        held.routes[:0] = [r for r in base if r not in held.routes]
        held.state = "queued"
        self._queue(_Op("c", held, replace=conflict == "replace", routes=tuple(held.routes)))

    def add_key(self, session: SessionController, key: str) -> None:
        super().add_key(session, key)
        if not key.startswith("reply|"):
            return  # only reply keys are routes of their own (a botoy private key is not)
        held = self._held.get(session)
        if held is None or self._by_key.get(key) is not session:
            return
        decoded = SessionKey.decode(key)
        route = route_key(reply_route(decoded.platform, decoded.bot, decoded.topic))
        if route in held.routes:
            return
        held.routes.append(route)
        if held.state != "opening":  # else the claim, queued after the open, takes it along
            self._queue(_Op("a", held, routes=(route,)))

    def remove(self, session: SessionController) -> None:
        super().remove(session)
        held = self._held.pop(session, None)
        if held is not None:
            self._queue(_Op("x", held, routes=tuple(held.routes)))

    def replaced(self, key: str) -> None:
        """Another worker says it took session ``key`` over: check, then end it here."""
        session = self.get(key)
        held = self._held.get(session) if session is not None else None
        if held is not None:
            self._queue(_Op("v", held))

    def _base_routes(self, session: SessionController) -> list[str]:
        event = session.event
        platform, bot = event.platform, event.self_id
        if session.route_id is not None:  # set by the local open, from filter.route_id
            return [route_key(id_route(platform, bot, session.route_id))]
        flt = session.filter
        if isinstance(flt, ReplySessionFilter) and type(flt).filter is ReplySessionFilter.filter:
            return []  # one route per message it answers to, added with its keys
        kind = type(flt)
        if kind not in self._unrouted_warned:
            self._unrouted_warned.add(kind)
            logger.warning(
                "{} gives no route_id: with several workers its sessions see only messages "
                "from their opening chat and their opener (override SessionFilter.route_id)",
                kind.__qualname__,
            )
        ids = [event.group_id or event.sender_id, event.sender_id]
        return [route_key(id_route(platform, bot, i)) for i in dict.fromkeys(ids)]

    # --- applying the queue -----------------------------------------------------------------

    def _queue(self, op: _Op) -> None:
        self._ops.append(op)
        self._queued += 1
        self._kick()

    def _kick(self) -> None:
        wake = self._wake
        if wake is None:
            wake = self._wake = asyncio.Event()
            self._sync_tasks.spawn(self._sync(wake), name="waiter-sdk-cluster-sessions")
        wake.set()

    async def settled(self) -> None:
        """Wait until every operation queued before this call is applied (or failed)."""
        if self._applied >= self._queued:
            return
        future = asyncio.get_running_loop().create_future()
        self._settling.append((self._queued, future))
        await future

    async def refresh(self) -> int:
        """The heartbeat's part: keep this worker's keys, re-claim vanished ones, end lost
        sessions as replaced; how many were lost. Raises ``OwnershipError`` if Redis failed."""
        if self._quit:
            return 0  # closed: the releases are applied, there is nothing left to keep
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._refresh_asked.append(future)
        self._kick()
        return await future

    async def _sync(self, wake: asyncio.Event) -> None:
        # The one writer: operations in order, a batch per loop turn, refreshes in between.
        while not self._quit:
            await wake.wait()
            wake.clear()
            if self._ops:
                ops, self._ops = self._ops, []
                await self._apply(ops)
            if self._refresh_asked:
                asked, self._refresh_asked = self._refresh_asked, []
                try:
                    lost = await self._refresh()
                except OwnershipError as exc:
                    for future in asked:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for future in asked:
                        if not future.done():
                            future.set_result(lost)

    def _encode(self, op: _Op) -> list[Any]:
        held = op.held
        counted = 1 if held.state == "held" else 0
        if op.kind == "c":
            key = held.session.key
            return [
                "c",
                held.sid,
                held.own,
                key,
                1 if op.replace else 0,
                held.target,
                list(op.routes),
                codec.encode_replaced(key).decode(),
            ]
        if op.kind == "a":
            return ["a", held.sid, counted, op.routes[0]]
        if op.kind == "x":
            return ["x", held.sid, counted, held.own, held.session.key, list(op.routes)]
        return ["v", held.sid, held.own]

    async def _apply(self, ops: list[_Op]) -> None:
        payload = orjson.dumps([self._encode(op) for op in ops]).decode()
        me = self.worker_id
        try:
            async with self._guard(f"apply {len(ops)} session claims and releases") as client:
                reply = await self._scripts["apply"](
                    keys=[routes_of_key(me), notify_key(me)],
                    args=[me, self.ttl_ms, payload, STREAM_PREFIX, alive_key("")],
                    client=client,
                )
        except OwnershipError as exc:
            self.outage.failed(exc)
            self._dirty = True
            for op in ops:
                if op.kind == "c" and op.held.state == "queued":
                    op.held.state = "unknown"
                elif op.kind == "x":
                    self._unreleased.add(op.held.own)
        else:
            self.outage.ok()
            for op, result in zip(ops, reply, strict=True):
                self._applied_one(op, result)
        finally:
            self._applied += len(ops)
            self._settle()

    def _applied_one(self, op: _Op, result: Any) -> None:
        held = op.held
        if op.kind == "c":
            claimed, previous = int(result[0]) == 1, _text(result[1]) or None
            if claimed:
                held.state = "held"
                if previous is not None and previous != self.worker_id:
                    logger.debug("session {} taken over from worker {}", held.session.key, previous)
                return
            held.state = "refused"
            session = held.session
            if session.reason is None:
                # The opener raises it: the same SessionBusyError as in one process, naming
                # the worker that holds the key.
                error = Claim(False, previous, self.worker_id).busy_error(session.key)
                session._end("cancelled", error)
        elif op.kind == "v":
            owner = _text(result)
            session = held.session
            if owner != self.worker_id and session.reason is None:
                logger.debug("session {} was taken over by worker {}", session.key, owner or "?")
                session._end("replaced")

    def _settle(self) -> None:
        applied = self._applied
        waiting = []
        for seq, future in self._settling:
            if seq <= applied:
                if not future.done():
                    future.set_result(None)
            else:
                waiting.append((seq, future))
        self._settling = waiting

    async def _refresh(self) -> int:
        me = self.worker_id
        open_now = [h for h in self._held.values() if h.state in ("held", "unknown")]
        owned = {h.own for h in self._held.values()}
        unreleased = [k for k in self._unreleased if k not in owned]
        payload = orjson.dumps(
            [
                1 if self._dirty else 0,
                [[h.sid, h.own, h.session.key, h.target, h.routes] for h in open_now],
                unreleased,
            ]
        ).decode()
        try:
            async with self._guard(f"refresh {len(open_now)} session keys") as client:
                reply = await self._scripts["refresh"](
                    keys=[routes_of_key(me), notify_key(me)],
                    args=[me, self.ttl_ms, payload],
                    client=client,
                )
        except OwnershipError as exc:
            self.outage.failed(exc)
            self._dirty = True
            raise
        self.outage.ok()
        rewritten = int(reply[0]) == 1
        lost = {int(sid) for sid in reply[1]}
        self._dirty = False
        self._unreleased.difference_update(unreleased)
        if rewritten:
            for held in open_now:
                held.state = "refused" if held.sid in lost else "held"
            if not lost:
                logger.debug("worker {}: {} session keys claimed again", me, len(open_now))
        for held in open_now:
            if held.sid in lost and held.session.reason is None:
                # Another worker holds the key now (a replace while Redis was away).
                held.session._end("replaced")
        return len(lost)

    # --- the end ----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Apply what is queued (the releases of the sessions that ended), then stop."""
        await self.settled()
        self._quit = True
        if self._wake is not None:
            self._wake.set()
        await self._sync_tasks.aclose()
        self._wake = None
        asked, self._refresh_asked = self._refresh_asked, []
        for future in asked:
            if not future.done():
                future.set_result(0)

    async def forget(self) -> None:
        """Remove every trace of this worker's sessions from Redis (a clean stop). Raises
        ``OwnershipError`` if Redis failed."""
        me = self.worker_id
        owned = sorted({*self._unreleased, *(h.own for h in self._held.values())})
        async with self._guard("remove this worker's session routes") as client:
            await self._scripts["forget"](
                keys=[routes_of_key(me), notify_key(me)], args=[me, *owned], client=client
            )
        self._unreleased.clear()


def _text(raw: Any) -> str:
    if raw is None:
        return ""
    return raw.decode() if isinstance(raw, bytes) else str(raw)
