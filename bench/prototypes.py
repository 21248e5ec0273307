"""Estimates for the proposals in docs/performance.md: monkeypatched prototypes, A/B in one process.

    python -m bench.prototypes [throughput|json|routing|timeouts|idle ...]

NOT part of the suite and not a design: each patch below is the smallest stand-in for one
proposed core change, patched onto the private internals of the commit it was written against
(see docs/performance.md), to measure what the change would buy before anyone writes it for
real. Every measurement alternates unpatched and patched runs in the same process and prints the
medians and the gain. Expect this file to break as the core changes; delete it once the
proposals have landed (the real scenarios then show the gains). Written against commit
45facdb; P1 (filter identity cached) has since landed in 674464b.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

from . import common
from .common import median

# --- the patches -------------------------------------------------------------------------------


def _filter_hash_patch() -> dict[tuple[Any, str], Any]:
    """P1: a filter's identity (and hash) computed once, not ``sorted(vars(self))`` per use."""
    from waiter_sdk.session import filters

    out: dict[tuple[Any, str], Any] = {}
    for cls in (filters.SenderSessionFilter, filters.GroupSessionFilter, filters.UserSessionFilter):
        # These three have no parameters: the class is the identity.
        out[(cls, "__hash__")] = lambda self: hash(type(self))
        out[(cls, "__eq__")] = lambda self, other: type(other) is type(self)
    return out


def _keys_patch() -> dict[tuple[Any, str], Any]:
    """P2: escape an event's ids once per event, shared by every filter, one f-string per key."""
    from waiter_sdk.session import filters

    part = filters.part
    last: list[Any] = [None, None]

    def ids(e: Any) -> tuple[str, str, str]:
        if last[0] is e:
            return last[1]  # type: ignore[no-any-return]
        bot = f"{part(e.platform)}|{part(e.self_id)}"
        group = None if e.group_id is None else part(e.group_id)
        value = (bot, group, part(e.sender_id))
        last[0], last[1] = e, value
        return value

    def sender(self: Any, e: Any) -> str:
        bot, group, user = ids(e)
        return f"sender|{bot}|g{group}|{user}" if group is not None else f"sender|{bot}|p|{user}"

    def group(self: Any, e: Any) -> str:
        bot, grp, user = ids(e)
        return f"group|{bot}|g{grp}" if grp is not None else f"group|{bot}|p{user}"

    def user(self: Any, e: Any) -> str:
        bot, _, usr = ids(e)
        return f"user|{bot}|{usr}"

    return {
        (filters.SenderSessionFilter, "filter"): sender,
        (filters.GroupSessionFilter, "filter"): group,
        (filters.UserSessionFilter, "filter"): user,
    }


def _prefix_patch() -> dict[tuple[Any, str], Any]:
    """P3: command prefixes computed at registration; one ``startswith(tuple)`` rejects chat."""
    from waiter_sdk.bus import EventBus

    def candidates(self: Any, text: str) -> list[str]:
        cached = self.__dict__.get("_proto_prefixes")
        if cached is None or cached[0] != len(self._commands):
            known = sorted({p for p, _ in self._commands}, key=len, reverse=True)
            cached = self.__dict__["_proto_prefixes"] = (len(self._commands), tuple(known))
        prefixes = cached[1]
        if not text.startswith(prefixes):
            return []
        return [p for p in prefixes if text.startswith(p)]

    return {(EventBus, "_prefix_candidates"): candidates}


def _nolog_patch() -> dict[tuple[Any, str], Any]:
    """P4: no loguru call on the session-end path unless debug logging is on."""
    from waiter_sdk.session.registry import SessionRegistry

    def ended(self: Any, session: Any, leftover: Any) -> None:
        reason = session.reason or "stopped"
        self.ended_counts[reason] = self.ended_counts.get(reason, 0) + 1
        if self.on_end is not None:
            self.on_end(session)
        if leftover:
            self._release(leftover)

    return {(SessionRegistry, "_ended"): ended}


def _wait_patch() -> dict[tuple[Any, str], Any]:
    """P5: the opener awaits the session's future directly (one coroutine frame fewer)."""
    import asyncio

    from waiter_sdk.session.waiter import SessionWaiter

    async def call(self: Any, event: Any, session_filter: Any = None) -> None:
        session = await self.open(event, session_filter)
        try:
            await session._future
        except asyncio.CancelledError:
            session._end("cancelled")
            raise

    return {(SessionWaiter, "__call__"): call}


def _precheck_patch() -> dict[tuple[Any, str], Any]:
    """P8: the registry counts the raw sender / group ids of sessions under the built-in filters;
    a message neither of whose ids is counted cannot match them, so no key is built at all."""
    from collections import Counter

    from waiter_sdk.session import filters
    from waiter_sdk.session.registry import SessionRegistry

    builtin = (filters.SenderSessionFilter, filters.GroupSessionFilter, filters.UserSessionFilter)
    original_open, original_remove, original_route = (
        SessionRegistry.open,
        SessionRegistry._remove,
        SessionRegistry.route,
    )
    ids: dict[int, Counter[str]] = {}
    custom: dict[int, int] = {}

    def raw(session: Any) -> str | None:
        e, flt = session.event, session.filter
        if isinstance(flt, filters.GroupSessionFilter) and e.group_id is not None:
            return e.group_id  # type: ignore[no-any-return]
        return e.sender_id  # type: ignore[no-any-return]

    def open_(self: Any, session: Any, conflict: Any = "busy") -> None:
        original_open(self, session, conflict)
        if type(session.filter) in builtin:
            ids.setdefault(id(self), Counter())[raw(session)] += 1
        else:
            custom[id(self)] = custom.get(id(self), 0) + 1

    def remove(self: Any, session: Any) -> None:
        if self._open.get(session.key) is session:
            if type(session.filter) in builtin:
                counter = ids[id(self)]
                value = raw(session)
                counter[value] -= 1
                if not counter[value]:
                    del counter[value]
            else:
                custom[id(self)] -= 1
        original_remove(self, session)

    def route(self: Any, event: Any) -> Any:
        if not custom.get(id(self)):
            counter = ids.get(id(self))
            if not counter or (event.sender_id not in counter and event.group_id not in counter):
                return None
        return original_route(self, event)

    return {
        (SessionRegistry, "open"): open_,
        (SessionRegistry, "_remove"): remove,
        (SessionRegistry, "route"): route,
    }


class _Wheel:
    """P6 stand-in: one loop timer per registry; deadlines in a heap of C-comparable tuples."""

    def __init__(self, loop: Any, chunk: int) -> None:
        self.loop = loop
        self.heap: list[tuple[float, int, Any]] = []
        self.handle: Any = None
        self.when = float("inf")
        self.seq = itertools.count()
        self.chunk = chunk

    def add(self, when: float, session: Any) -> None:
        heapq.heappush(self.heap, (when, next(self.seq), session))
        if when < self.when:
            if self.handle is not None:
                self.handle.cancel()
            self.when = when
            self.handle = self.loop.call_at(when, self.fire)

    def fire(self) -> None:
        self.handle, self.when = None, float("inf")
        # As asyncio does for its own timers: due means within the clock's resolution.
        heap, now = self.heap, self.loop.time() + getattr(self.loop, "_clock_resolution", 1e-9)
        ended = 0
        while heap and heap[0][0] <= now:
            when, _, session = heapq.heappop(heap)
            if session.reason is not None or session._timer_when != when:
                continue  # ended, or re-armed earlier: a stale entry
            if session.deadline > when:  # kept later: re-arm lazily, as the controller does
                session._timer_when = session.deadline
                heapq.heappush(heap, (session.deadline, next(self.seq), session))
                continue
            session._end("timeout")
            ended += 1
            if self.chunk and ended >= self.chunk and heap and heap[0][0] <= now:
                # Let the openers woken so far run before ending the next batch.
                self.handle = self.loop.call_soon(self.fire)
                self.when = now
                return
        if heap:
            self.when = heap[0][0]
            self.handle = self.loop.call_at(self.when, self.fire)


def _wheel_patch(chunk: int = 0) -> dict[tuple[Any, str], Any]:
    from waiter_sdk.session.controller import SessionController

    wheels: dict[Any, _Wheel] = {}

    def arm(self: Any) -> None:
        wheel = wheels.get(self._loop)
        if wheel is None:
            wheel = wheels[self._loop] = _Wheel(self._loop, chunk)
        self._timer_when = self.deadline
        wheel.add(self.deadline, self)

    return {(SessionController, "_arm"): arm}


def _fast_parse_patch() -> dict[tuple[Any, str], Any]:
    """P7: one-pass OneBot message parse (no intermediate segment dicts, no abc isinstance),
    and a dedup key of the raw id values (no str() of each)."""
    from waiter_sdk.adapters.onebot11 import adapter as adapter_module
    from waiter_sdk.adapters.onebot11 import dedup as dedup_module
    from waiter_sdk.adapters.onebot11.events import addressed_text, parse_event
    from waiter_sdk.events import At, Image, MessageChain, MessageEvent, Plain, Reply

    original_key = dedup_module.event_key

    def event_key(payload: Any) -> Any:
        post_type = payload.get("post_type")
        if post_type == "message" and payload.get("message_id") is not None:
            g = payload.get
            return (
                post_type,
                g("self_id"),
                g("message_type"),
                g("group_id"),
                g("user_id"),
                g("message_id"),
            )
        return original_key(payload)

    def fast(
        payload: Any, *, adapter: Any = None, default_self_id: str = "", drop_self: bool = True
    ) -> Any:
        if type(payload) is not dict or payload.get("post_type") != "message":
            return parse_event(
                payload, adapter=adapter, default_self_id=default_self_id, drop_self=drop_self
            )
        message = payload.get("message")
        kind = payload.get("message_type")
        sender = payload.get("sender")
        user_id = payload.get("user_id")
        if (
            type(message) is not list
            or kind not in ("group", "private")
            or type(sender) is not dict
            or user_id is None
        ):
            return parse_event(
                payload, adapter=adapter, default_self_id=default_self_id, drop_self=drop_self
            )
        self_id = str(payload.get("self_id") or default_self_id)
        uid = str(user_id)
        if drop_self and uid == self_id:
            return None
        components = []
        texts = []
        reply_to = None
        mentions = False
        for segment in message:
            if type(segment) is not dict:
                return parse_event(
                    payload, adapter=adapter, default_self_id=default_self_id, drop_self=drop_self
                )
            t = segment.get("type")
            d = segment.get("data") or {}
            if t == "text":
                text = d.get("text")
                text = text if type(text) is str else str(text)
                components.append(Plain(text))
                texts.append(text)
            elif t == "at" and d.get("qq") != "all":
                components.append(At(str(d.get("qq")), d.get("name") or None))
                mentions = True
            elif t == "reply" and d.get("id") is not None:
                reply_to = str(d["id"])
                components.append(Reply(reply_to))
            elif t == "image":
                url = d.get("url")
                components.append(Image(str(d.get("file") or url or ""), url or None))
            else:
                return parse_event(
                    payload, adapter=adapter, default_self_id=default_self_id, drop_self=drop_self
                )
        chain = MessageChain._trusted(components)
        group = payload.get("group_id") if kind == "group" else None
        if group is None:
            to_me, text = True, "".join(texts)
            name = sender.get("nickname") or ""
            role = None
        else:
            group = str(group)
            addressed = addressed_text(chain, self_id) if mentions else None
            to_me = addressed is not None
            text = addressed if addressed is not None else "".join(texts)
            name = sender.get("card") or sender.get("nickname") or ""
            role = sender.get("role")
        return MessageEvent(
            platform="onebot11",
            self_id=self_id,
            message=chain,
            message_id=str(payload.get("message_id")),
            sender_id=uid,
            sender_name=name,
            sender_role=role if role in ("owner", "admin", "member") else None,
            group_id=group,
            reply_to=reply_to,
            to_me=to_me,
            timestamp=float(payload.get("time") or 0),
            raw=payload,
            adapter=adapter,
            message_str=text,
        )

    return {(adapter_module, "parse_event"): fast, (dedup_module, "event_key"): event_key}


@contextlib.contextmanager
def patched(patches: dict[tuple[Any, str], Any]) -> Iterator[None]:
    saved = [(owner, name, owner.__dict__.get(name, _MISSING)) for owner, name in patches]
    for (owner, name), value in patches.items():
        setattr(owner, name, value)
    try:
        yield
    finally:
        for owner, name, value in saved:
            if value is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, value)


_MISSING = object()


def _merge(*parts: dict[tuple[Any, str], Any]) -> dict[tuple[Any, str], Any]:
    out: dict[tuple[Any, str], Any] = {}
    for part in parts:
        out.update(part)
    return out


# --- A/B measurements -----------------------------------------------------------------------------


def _ab(
    label: str,
    measure: Callable[[], float],
    variants: dict[str, dict[tuple[Any, str], Any]],
    runs: int,
    unit: str,
    higher_is_better: bool,
) -> None:
    results: dict[str, list[float]] = {"as is": [], **{name: [] for name in variants}}
    for _ in range(runs):
        results["as is"].append(measure())
        for name, patches in variants.items():
            with patched(patches):
                results[name].append(measure())
    best = max if higher_is_better else min
    base = best(results["as is"])
    print(f"[{label}]")
    for name, values in results.items():
        value = best(values)
        gain = value / base if higher_is_better else base / value
        print(f"  {name:<42} {common.fmt(value):>10} {unit}   x{gain:.2f} vs as is")


def throughput(runs: int) -> None:
    from . import throughput as tp

    _ab(
        "throughput, pre-built events, 2,000 sessions x 10 (msg per CPU-second)",
        lambda: common.run(lambda: tp.sdk_prebuilt(2_000))[1],
        {
            "P1 filter hash cached": _filter_hash_patch(),
            "P2 keys: ids escaped once per event": _keys_patch(),
            "P4 no loguru call per session end": _nolog_patch(),
            "P1+P2+P4+P5+P6": _merge(
                _filter_hash_patch(), _keys_patch(), _nolog_patch(), _wait_patch(), _wheel_patch()
            ),
        },
        runs,
        "msg/s",
        True,
    )


def json_path(runs: int) -> None:
    from . import throughput as tp

    def with_orjson() -> float:
        import orjson

        saved = json.loads
        json.loads = orjson.loads
        try:
            return common.run(lambda: tp.sdk_json(2_000))[1]  # type: ignore[no-any-return]
        finally:
            json.loads = saved

    everything = _merge(
        _filter_hash_patch(),
        _keys_patch(),
        _nolog_patch(),
        _wait_patch(),
        _wheel_patch(),
        _fast_parse_patch(),
    )
    results: dict[str, list[float]] = {
        "as is": [],
        "P7 fast parse + dedup key": [],
        "P7 + orjson": [],
        "all patches + orjson": [],
    }
    for _ in range(runs):
        results["as is"].append(common.run(lambda: tp.sdk_json(2_000))[1])
        with patched(_fast_parse_patch()):
            results["P7 fast parse + dedup key"].append(common.run(lambda: tp.sdk_json(2_000))[1])
            results["P7 + orjson"].append(with_orjson())
        with patched(everything):
            results["all patches + orjson"].append(with_orjson())
    base = median(results["as is"])
    print("[throughput from JSON frames (msg per CPU-second)]")
    for name, values in results.items():
        print(
            f"  {name:<42} {common.fmt(median(values)):>10} msg/s   x{median(values) / base:.2f} vs as is"
        )


def routing(runs: int) -> None:
    from . import routing as rt

    def at(level: int) -> Callable[[], float]:
        def measure() -> float:
            return common.run(rt.one_run)[level][0]  # type: ignore[no-any-return]

        return measure

    saved = rt.LEVELS
    rt.LEVELS = (0, 100_000)
    try:
        for level in (0, 100_000):
            _ab(
                f"routing, non-matching message at {level:,} sessions (us/msg)",
                at(level),
                {
                    "P2 keys: ids escaped once per event": _keys_patch(),
                    "P3 prefixes precomputed": _prefix_patch(),
                    "P2+P3": _merge(_keys_patch(), _prefix_patch()),
                    "P8 raw-id pre-check": _precheck_patch(),
                    "P3+P8": _merge(_prefix_patch(), _precheck_patch()),
                },
                runs,
                "us/msg",
                False,
            )
    finally:
        rt.LEVELS = saved


def timeouts(runs: int) -> None:
    from . import timeouts as to

    def measure(index: int) -> Callable[[], float]:
        def run() -> float:
            return to._stats(common.run(to.sdk)["delays"])[index]

        return run

    variants = {
        "P1+P4 (cheaper _end)": _merge(_filter_hash_patch(), _nolog_patch()),
        "P1+P4+P5 (+ flat opener wait)": _merge(
            _filter_hash_patch(), _nolog_patch(), _wait_patch()
        ),
        "P1+P4+P5+P6 (+ one timer per registry)": _merge(
            _filter_hash_patch(), _nolog_patch(), _wait_patch(), _wheel_patch()
        ),
        "P1+P4+P5+P6, ends in chunks of 256": _merge(
            _filter_hash_patch(), _nolog_patch(), _wait_patch(), _wheel_patch(256)
        ),
    }
    results: dict[str, list[tuple[float, float, float]]] = {
        "as is": [],
        **{n: [] for n in variants},
    }
    for _ in range(runs):
        results["as is"].append(to._stats(common.run(to.sdk)["delays"]))
        for name, patches in variants.items():
            with patched(patches):
                results[name].append(to._stats(common.run(to.sdk)["delays"]))
    print("[timeouts: delay after the deadline, ms (median / p99 / max)]")
    for name, values in results.items():
        med = [median([v[i] for v in values]) for i in range(3)]
        print(f"  {name:<42} {med[0]:7.1f} / {med[1]:7.1f} / {med[2]:7.1f}")


def idle(runs: int) -> None:
    import asyncio
    import gc
    import tracemalloc

    from . import idle as idl

    async def traced(cls: Any, n: int = 20_000) -> float:
        v = cls(n)
        await v.prepare()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        await v.open()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        if v.app is not None:
            await v.app.stop()
            for session in v.keep:
                if session._future.done():
                    session._future.exception()
        await asyncio.sleep(0)
        return (after - before) / n

    for label, cls in (("bulk open_session", idl._Bulk), ("plugin opener + session", idl._Plugin)):
        _ab(
            f"idle, {label} (traced B/session)",
            lambda cls=cls: common.run(lambda: traced(cls)),
            {
                "P5 flat opener wait": _wait_patch(),
                "P6 one timer per registry": _wheel_patch(),
                "P5+P6": _merge(_wait_patch(), _wheel_patch()),
            },
            runs,
            "B",
            False,
        )


RUNS = 9  # alternating trials per variant; the best one counts (the machine is shared)

TARGETS = {
    "throughput": throughput,
    "json": json_path,
    "routing": routing,
    "timeouts": timeouts,
    "idle": idle,
}


def main(argv: list[str]) -> int:
    names = argv or list(TARGETS)
    for name in names:
        TARGETS[name](RUNS)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
