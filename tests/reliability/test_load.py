"""Load, nothing lost: open sessions plus chatter, then a burst, over a real loopback WebSocket.

The fake implementation connects by reverse WebSocket and sends every message as a frame; the app
parses, deduplicates, routes and handles them. Each message is accounted for exactly once on the
app side: delivered to one session, or run through the plugin handlers, or dropped because its
session's queue was full (``max_queue``) -- and each such drop is counted and logged with its
session key. A few "hot" sessions have their waiter stuck for the whole burst so that their
queues overflow; the test knows beforehand exactly which messages must be dropped.

``heavy`` runs the issue's figures (10,000 sessions, a 200,000-message burst); the unmarked
variant is the same scenario at a small size. Figures are printed with ``-s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from loguru import logger

from tests.onebot11.fake import FakeOneBot
from waiter_sdk import (
    App,
    Event,
    MessageEvent,
    Plugin,
    SessionClosedError,
    SessionController,
    on_message,
    session_waiter,
)
from waiter_sdk.adapters.onebot11 import OneBot11Adapter
from waiter_sdk.config import OneBot11Settings, SessionSettings, Settings

SELF_ID = 10001
MAX_QUEUE = 64


@dataclass(frozen=True)
class Shape:
    sessions: int  # users who open a session first (one each) and then talk in it
    chatter_users: int  # users without a session: their messages go to the plugin handlers
    burst: int  # messages sent back to back once every session is open
    hot: int  # sessions whose waiter is stuck during the burst, so their queue overflows
    hot_messages: int  # messages each hot session receives in the burst

    @property
    def drops(self) -> int:
        # One message is in the stuck waiter call, MAX_QUEUE wait behind it, the rest drop.
        return self.hot * max(0, self.hot_messages - 1 - MAX_QUEUE)


class Counted:
    """A count that can be awaited until it reaches a target."""

    def __init__(self) -> None:
        self.value = 0
        self._target: int | None = None
        self._reached = asyncio.Event()

    def add(self, n: int = 1) -> None:
        self.value += n
        if self._target is not None and self.value >= self._target:
            self._reached.set()

    async def reach(self, target: int, within: float) -> None:
        self._target = target
        self._reached.clear()
        if self.value >= target:
            return
        async with asyncio.timeout(within):  # a hang guard, not a timing assertion
            await self._reached.wait()


class Load(Plugin):
    """Counts every message it handles, by message id, in a session or in a handler."""

    name = "load"

    def __init__(self, hot: set[str]) -> None:
        self.hot = hot
        self.handled: Counter[str] = Counter()
        self.by_handler = 0
        self.by_session = 0
        self.total = Counted()
        self.release = asyncio.Event()
        self.openers: set[asyncio.Task[Any]] = set()

    def _count(self, event: MessageEvent) -> None:
        self.handled[event.message_id] += 1
        self.total.add()

    @on_message()
    async def any_message(self, event: MessageEvent) -> None:
        self.by_handler += 1
        self._count(event)
        if event.message_str != "open":
            return
        stuck = event.sender_id in self.hot
        task = asyncio.current_task()
        assert task is not None
        self.openers.add(task)

        @session_waiter(timeout=3600)
        async def talk(controller: SessionController, reply: MessageEvent) -> None:
            self.by_session += 1
            self._count(reply)
            if stuck:
                await self.release.wait()

        with contextlib.suppress(SessionClosedError):  # the app's stop ends every session
            await talk(event)


@dataclass
class Plan:
    """Who sends what, decided before anything is sent."""

    shape: Shape
    openers: list[tuple[int, int | None]] = field(default_factory=list)  # (user, group)
    burst: list[tuple[int, int | None]] = field(default_factory=list)

    @classmethod
    def of(cls, shape: Shape) -> Plan:
        plan = cls(shape)
        users = [
            (1_000_000 + n, None if n % 10 == 0 else 1 + n % 97) for n in range(shape.sessions)
        ]
        chatter = [(2_000_000 + n, 1 + n % 97) for n in range(shape.chatter_users)]
        plan.openers = users
        hot, normal = users[: shape.hot], users[shape.hot :]
        hot_total = shape.hot * shape.hot_messages
        every = max(1, shape.burst // max(1, hot_total))
        hot_sent = 0
        for i in range(shape.burst):
            if i % every == 0 and hot_sent < hot_total:
                plan.burst.append(hot[hot_sent % shape.hot])
                hot_sent += 1
            elif i % 2 == 0:
                plan.burst.append(normal[(i * 7919) % len(normal)])
            else:
                plan.burst.append(chatter[(i * 104_729) % len(chatter)])
        assert hot_sent == hot_total, "the burst is too short for the hot sessions"
        return plan


def rss_now_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def reset_peak_rss() -> bool:
    """Reset the process's peak RSS (Linux >= 4.0) so the figure is this scenario's own."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


async def run_load(shape: Shape) -> dict[str, Any]:
    plan = Plan.of(shape)
    hot_ids = {str(user) for user, _ in plan.openers[: shape.hot]}
    plugin = Load(hot_ids)
    adapter = OneBot11Adapter(OneBot11Settings(port=0, modes=["reverse_ws"]))
    settings = Settings(session=SessionSettings(max_queue=MAX_QUEUE))
    app = App(settings=settings, plugins=[plugin], adapters=[adapter])
    fake = FakeOneBot(SELF_ID)
    drop_logs: list[str] = []
    logger.enable("waiter_sdk")
    sink = logger.add(
        lambda m: drop_logs.append(m.record["message"]),
        level="WARNING",
        filter=lambda r: "max_queue" in r["message"],
    )
    controllers: list[SessionController] = []
    incoming = Counted()

    def on_incoming(event: Event) -> None:
        if isinstance(event, MessageEvent):
            incoming.add()

    sent_ids: list[str] = []
    hot_sent: dict[str, list[str]] = {user: [] for user in hot_ids}

    async def send(user: int, group: int | None, text: str, *, burst: bool) -> None:
        payload = fake.state.message_event(user, text, group_id=group)
        message_id = str(payload["message_id"])
        del fake.state.messages[payload["message_id"]]  # the fake's store would grow with the test
        sent_ids.append(message_id)
        if burst and str(user) in hot_sent:
            hot_sent[str(user)].append(message_id)
        await fake.send_raw(json.dumps(payload, ensure_ascii=False))

    figures: dict[str, Any] = {"peak_reset": reset_peak_rss(), "rss_start_mib": rss_now_mib()}
    try:
        await app.start()
        app.listen("incoming", on_incoming)
        opened = Counted()
        app.listen("session_opened", lambda s: (controllers.append(s), opened.add()))
        assert adapter.server is not None
        await fake.connect_reverse(adapter.server.url("ws", adapter.settings.path))
        await adapter.wait_bot(timeout=10)

        started = time.perf_counter()
        for user, group in plan.openers:
            await send(user, group, "open", burst=False)
        await opened.reach(shape.sessions, within=120)
        figures["open_s"] = time.perf_counter() - started
        figures["rss_open_mib"] = rss_now_mib()

        started = time.perf_counter()
        for n, (user, group) in enumerate(plan.burst):
            await send(user, group, f"m{n}", burst=True)
        figures["send_s"] = time.perf_counter() - started
        await incoming.reach(len(sent_ids), within=300)  # everything sent was dispatched
        plugin.release.set()  # the stuck waiters go on with what they queued
        await plugin.total.reach(len(sent_ids) - shape.drops, within=300)
        figures["burst_s"] = time.perf_counter() - started
        figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        # --- nothing lost, nothing doubled ------------------------------------------------
        assert incoming.value == len(sent_ids) == shape.sessions + shape.burst
        assert len(set(sent_ids)) == len(sent_ids)
        assert max(plugin.handled.values()) == 1  # no message handled twice
        dropped = set(sent_ids) - set(plugin.handled)
        assert set(plugin.handled) <= set(sent_ids)
        # exactly the newest messages of each stuck session, beyond what its queue holds
        expected = {i for ids in hot_sent.values() for i in ids[1 + MAX_QUEUE :]}
        assert dropped == expected and len(dropped) == shape.drops
        # counted on both sides: sent = session deliveries + handler runs + counted drops
        counted_drops = sum(c.dropped for c in controllers)
        assert counted_drops == shape.drops
        assert plugin.by_session + plugin.by_handler + counted_drops == len(sent_ids)
        # ... and each drop logged once, with the key of its session
        hot_keys = {c.key for c in controllers if c.event.sender_id in hot_ids}
        assert len(drop_logs) == counted_drops
        per_key = Counter(next(k for k in hot_keys if k in line) for line in drop_logs)
        assert all(n == shape.hot_messages - 1 - MAX_QUEUE for n in per_key.values())
        assert len(per_key) == (shape.hot if shape.drops else 0)

        # --- bounded: nothing piles up once the burst is handled ---------------------------
        assert len(app.sessions) == shape.sessions
        assert all(info.queued == 0 for info in app.sessions)
        # handler tasks end (the last ones may be just past their count), only openers remain
        await asyncio.gather(*(t for t in app.bus.tasks._tasks if t not in plugin.openers))
        assert app.bus.tasks._tasks == plugin.openers and len(plugin.openers) == shape.sessions
        assert adapter._dedup is not None and len(adapter._dedup) <= adapter._dedup.limit
    finally:
        stopping = time.perf_counter()
        await app.stop()
        figures["stop_s"] = time.perf_counter() - stopping
        await fake.close()
        logger.remove(sink)
        logger.disable("waiter_sdk")
    assert app.sessions.ended_counts == {"shutdown": shape.sessions}
    figures.update(
        sessions=shape.sessions,
        messages=len(sent_ids),
        drops=shape.drops,
        rate=shape.burst / figures["burst_s"],
    )
    print(
        "\n[figures] {messages} messages ({sessions} sessions open), {drops} dropped "
        "(max_queue, all counted and logged); open {open_s:.1f} s, burst sent in {send_s:.1f} s "
        "and handled in {burst_s:.1f} s ({rate:.0f} msg/s), stop {stop_s:.1f} s; RSS at start "
        "{rss_start_mib:.0f} MiB, with sessions open {rss_open_mib:.0f} MiB, peak "
        "{peak_rss_mib:.0f} MiB (peak reset at start: {peak_reset})".format(**figures)
    )
    return figures


async def test_load_small_nothing_lost() -> None:
    await run_load(Shape(sessions=300, chatter_users=50, burst=4_000, hot=3, hot_messages=100))


@pytest.mark.heavy
async def test_load_heavy_10k_sessions_200k_burst_nothing_lost() -> None:
    await run_load(
        Shape(sessions=10_000, chatter_users=2_000, burst=200_000, hot=10, hot_messages=200)
    )
