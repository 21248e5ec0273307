"""``Ingress`` against a real redis-server, with the workers played by the test.

A small adapter feeds events in and records what the ingress sends; the "workers" are Redis
calls made here: heartbeats through ``Members``, route hashes written by hand, ``send``
envelopes appended to ``waiter:out``, and the streams read back with the codec. Every wait is
a bounded loop over a condition (Redis's state, the adapter's record, the log), never a sleep
standing in for one; the ingress's own timers are its settings, a tenth of a second here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest

from tests.redis_kit import RedisServer
from waiter_sdk.adapters.base import Adapter
from waiter_sdk.config import Settings
from waiter_sdk.events import MessageChain, MessageEvent, NoticeEvent, RequestEvent, Target
from waiter_sdk.exceptions import AdapterConnectionError

try:
    from redis import exceptions as redis_errors
    from redis.asyncio import Redis

    from waiter_sdk.cluster import codec
    from waiter_sdk.cluster.delivery import shard_for, shared_stream, worker_stream
    from waiter_sdk.cluster.ingress import Ingress
    from waiter_sdk.cluster.layout import (
        OUT_STREAM,
        WORKERS,
        alive_key,
        chat_key,
        id_route,
        notify_key,
        reply_route,
        results_stream,
        route_key,
        routes_of_key,
    )
    from waiter_sdk.cluster.membership import Members
except ImportError:  # _needs_redis skips every test, or fails it under CI=true, saying why
    pass

NOTICE = "Sorry, that conversation was cut short."


class FeedAdapter(Adapter):
    """An adapter the test drives: ``feed`` dispatches, ``send`` records (or fails)."""

    platform = "test"

    def __init__(self) -> None:
        self.app: Any = None
        self.sent: list[tuple[Target, str, str | None]] = []
        self.fail: Exception | None = None

    async def start(self, app: Any) -> None:
        self.app = app

    async def stop(self) -> None:
        self.app = None

    async def send(
        self, target: Target, chain: MessageChain, *, reply_to: str | None = None
    ) -> str:
        if self.fail is not None:
            raise self.fail
        self.sent.append((target, chain.plain_text, reply_to))
        return f"sent{len(self.sent)}"

    def feed(self, *events: Any) -> None:
        for event in events:
            self.app.dispatch(event)


def message(
    mid: str, sender: str = "u1", group: str | None = None, reply_to: str | None = None
) -> MessageEvent:
    return MessageEvent(
        platform="test",
        self_id="bot",
        message=MessageChain([f"text of {mid}"]),
        message_id=mid,
        sender_id=sender,
        sender_name=sender,
        group_id=group,
        reply_to=reply_to,
    )


def shard_of(group: str | None, user: str | None) -> str:
    return shared_stream(shard_for(chat_key("test", "bot", group, user), 4))


def settings_for(url: str, **cluster: Any) -> Settings:
    values = {
        "redis": url,
        "heartbeat": 0.05,
        "dead_after": 0.3,
        "ownership_ttl": 5.0,
        "shards": 4,
        "crash_notice": NOTICE,
        **cluster,
    }
    return Settings.load(cluster=values, storage="memory")


async def until(check: Callable[[], Awaitable[Any]], what: str, limit: float = 10.0) -> Any:
    """Poll ``check`` until it answers something truthy; the bound only stops a broken test."""
    try:
        async with asyncio.timeout(limit):
            while True:
                try:
                    found = await check()
                except redis_errors.ConnectionError:
                    found = None  # the test's own client, after Redis restarted: reconnects
                if found:
                    return found
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


async def envelopes(client: Redis, stream: str) -> list[dict[str, Any]]:
    return [codec.decode(fields[b"payload"]) for _, fields in await client.xrange(stream)]


async def ids_on(client: Redis, stream: str) -> list[str]:
    return [
        e["ev"].get("message_id") or e["ev"].get("type")
        for e in await envelopes(client, stream)
        if e["t"] == "event"
    ]


@pytest.fixture
def url(redis_server: RedisServer) -> str:
    return redis_server.url()


@pytest.fixture
async def client(url: str) -> AsyncIterator[Redis]:
    from tests.cluster.conftest import make_client

    made = make_client(url)
    try:
        yield made
    finally:
        await made.aclose()


@pytest.fixture
def adapter() -> FeedAdapter:
    return FeedAdapter()


# --- forwarding -------------------------------------------------------------------------------


async def test_unowned_events_go_to_their_chats_shard_in_arrival_order(url, client, adapter):
    async with Ingress(settings_for(url), adapters=[adapter]):
        adapter.feed(
            message("m1", "u1", "g1"),
            message("m2", "u2"),
            message("m3", "u3", "g1"),
            NoticeEvent(platform="test", self_id="bot", type="group_increase", group_id="g1"),
            RequestEvent(platform="test", self_id="bot", type="friend", user_id="u2", flag="f"),
            message("m4", "u2"),
        )
        group, private = shard_of("g1", None), shard_of(None, "u2")

        async def arrived() -> bool:
            streams = {group, private}
            return sum([len(await ids_on(client, s)) for s in streams]) >= 6

        await until(arrived, "six events on their shard streams")
        if group != private:
            assert await ids_on(client, group) == ["m1", "m3", "group_increase"]
            assert await ids_on(client, private) == ["m2", "friend", "m4"]
        else:
            assert await ids_on(client, group) == [
                "m1",
                "m2",
                "m3",
                "group_increase",
                "friend",
                "m4",
            ]
        first = (await envelopes(client, group))[0]
        assert first["key"] == "test|bot|m1" and first["try"] == [] and first["hops"] == 0
        assert codec.event_of(first).message_str == "text of m1"


async def test_owned_events_go_to_the_owner_with_the_live_candidates_in_route_order(
    url, client, adapter
):
    members = Members(client, dead_after=60.0)
    for worker in ("w1", "w2", "w4"):
        await members.beat(worker, {"pid": 1})
    await members.beat("w3", {"pid": 1})
    await client.delete(alive_key("w3"))  # listed, no heartbeat: dead
    await client.hset(route_key(reply_route("test", "bot", "m9")), mapping={"w2": 1})
    await client.hset(route_key(id_route("test", "bot", "u1")), mapping={"w1": 1, "w4": 0})
    await client.hset(route_key(id_route("test", "bot", "g1")), mapping={"w3": 1, "w1": 2, "w4": 1})

    async with Ingress(settings_for(url), adapters=[adapter]):
        adapter.feed(
            message("a", "u1", "g1", reply_to="m9"),  # reply, sender, group: w2, w1, w4
            message("b", "u1"),  # the sender's route only: w1 (w4's count is 0)
            message("c", "u7", "g1"),  # the group's: w1 then w4 (w3 is dead)
            message("d", "u7", "g2"),  # nobody's
        )
        await until(lambda: ids_on(client, shard_of("g2", None)), "the unowned event")
        (a,) = await envelopes(client, worker_stream("w2"))
        assert a["ev"]["message_id"] == "a" and a["try"] == ["w1", "w4"]
        b, c = await envelopes(client, worker_stream("w1"))
        assert (b["ev"]["message_id"], b["try"]) == ("b", [])
        assert (c["ev"]["message_id"], c["try"]) == ("c", ["w4"])
        assert await ids_on(client, shard_of("g2", None)) == ["d"]
        assert not await client.exists(worker_stream("w3"))


async def test_a_worker_that_came_back_since_the_last_poll_gets_its_sessions_events(
    url, client, adapter
):
    # One poll, at start (the heartbeat is long): it sees nobody, as after Redis restarted
    # empty. Then w5 beats again and re-publishes its session's route, as its heartbeat does.
    settings = settings_for(url, heartbeat=60.0, dead_after=120.0, ownership_ttl=300.0)
    async with Ingress(settings, adapters=[adapter]) as ingress:

        async def polled() -> bool:
            return ingress.live is not None

        await until(polled, "the first poll")
        assert ingress.live == frozenset()
        await Members(client, dead_after=120.0).beat("w5", {"pid": 5})
        await client.hset(route_key(id_route("test", "bot", "u1")), mapping={"w5": 1})
        adapter.feed(message("a", "u1", "g1"))
        # To w5, whose session takes it; not to the chat's shard, whose reader may not.
        assert await until(lambda: ids_on(client, worker_stream("w5")), "to w5") == ["a"]
        assert await ids_on(client, shard_of("g1", None)) == []


# --- sends ------------------------------------------------------------------------------------


def send_envelope(rid: str, platform: str = "test", reply_to: str | None = None) -> bytes:
    return codec.encode(
        {
            "t": "send",
            "rid": rid,
            "worker": "w1",
            "target": codec.encode_target(Target(platform, "bot", "g1", None)),
            "chain": codec.encode_chain(MessageChain([f"reply {rid}"])),
            "reply_to": reply_to,
        }
    )


async def test_sends_are_carried_out_and_answered_with_results_or_errors(url, client, adapter):
    async with Ingress(settings_for(url), adapters=[adapter]):
        await client.xadd(OUT_STREAM, {"payload": send_envelope("r1", reply_to="m3")})

        async def results(n: int) -> Callable[[], Awaitable[list[dict[str, Any]]]]:
            async def check() -> list[dict[str, Any]]:
                got = await envelopes(client, results_stream("w1"))
                return got if len(got) >= n else []

            return check

        (first,) = await until(await results(1), "the first result")
        assert first == {"t": "result", "rid": "r1", "message_id": "sent1"}
        assert adapter.sent == [(Target("test", "bot", "g1", None), "reply r1", "m3")]

        adapter.fail = AdapterConnectionError("the platform said no")
        await client.xadd(OUT_STREAM, {"payload": send_envelope("r2")})
        await client.xadd(OUT_STREAM, {"payload": send_envelope("r3", platform="elsewhere")})
        await client.xadd(OUT_STREAM, {"payload": b"not json"})
        got = await until(await results(3), "two more results")
        by_rid = {r["rid"]: r for r in got}
        assert by_rid["r2"] == {
            "t": "result",
            "rid": "r2",
            "error": "the platform said no",
            "error_type": "AdapterConnectionError",
        }
        assert by_rid["r3"]["error_type"] == "LookupError"

        async def all_acked() -> bool:
            return int((await client.xpending(OUT_STREAM, "ingress"))["pending"]) == 0

        await until(all_acked, "every send acknowledged, the unreadable one too")


# --- a dead worker ----------------------------------------------------------------------------


async def _dying_worker(client: Redis) -> None:
    """Worker w9 with three sessions, a route, and events in its stream; it beats once."""
    members = Members(client, dead_after=60.0)
    await members.beat("w1", {"pid": 1})  # a live worker, beating for the whole test
    await Members(client, dead_after=0.3).beat("w9", {"pid": 2})
    group = orjson.dumps(codec.encode_target(Target("test", "bot", "g1", None)))
    private = orjson.dumps(codec.encode_target(Target("test", "bot", None, "u2")))
    await client.hset(notify_key("w9"), mapping={"k1": group, "k2": group, "k3": private})
    await client.set("waiter:own:k1", "w9")
    await client.set("waiter:own:k2", "w1")  # taken over already: not w9's to delete
    await client.set("waiter:own:k3", "w9")
    route = id_route("test", "bot", "u2")
    await client.sadd(routes_of_key("w9"), route)
    await client.hset(route_key(route), mapping={"w9": 1, "w1": 1})
    stream = worker_stream("w9")
    for mid in ("e1", "e2", "e3"):
        payload = codec.encode_event(message(mid, "u5"), ledger_key=f"test|bot|{mid}")
        await client.xadd(stream, {"payload": payload})
    await client.xadd(
        stream, {"payload": codec.encode({"t": "result", "rid": "x", "message_id": "1"})}
    )
    await client.xgroup_create(stream, "workers", id="0")
    await client.xreadgroup("workers", "w9", {stream: ">"}, count=2)  # e1, e2 pending; rest unread
    await client.set("waiter:seen:test|bot|e2", "begun")
    await client.set("waiter:seen:test|bot|e3", "done")


async def test_a_dead_worker_is_handed_over(url, client, adapter, logs):
    await _dying_worker(client)
    async with Ingress(settings_for(url), adapters=[adapter]):

        async def gone() -> bool:
            return not await client.hexists(WORKERS, "w9")

        await until(gone, "w9 handed over")
        # The group heard the notice once for its two sessions; the private chat once.
        assert sorted((t.group_id or t.user_id, text) for t, text, _ in adapter.sent) == [
            ("g1", NOTICE),
            ("u2", NOTICE),
        ]
        assert await client.get("waiter:own:k1") is None
        assert await client.get("waiter:own:k2") == b"w1"
        assert await client.get("waiter:own:k3") is None
        assert await client.hgetall(route_key(id_route("test", "bot", "u2"))) == {b"w1": b"1"}
        for key in (worker_stream("w9"), notify_key("w9"), routes_of_key("w9")):
            assert not await client.exists(key)
        # Should w9 only have been late, its next heartbeat finds this and ends its sessions.
        assert await client.exists("waiter:gone:w9")
        # e1 was never begun: routed again (u5 has no route: its chat's shard). e2 was being
        # handled: dropped, said. e3 was handled: dropped silently.
        rerouted = await until(lambda: ids_on(client, shard_of(None, "u5")), "e1 routed again")
        assert rerouted == ["e1"]
        assert (
            "WARNING message test|bot|e2 dropped: it was being handled when worker w9 died" in logs
        )
        summary = [line for line in logs if line.startswith("WARNING worker w9 died")]
        assert len(summary) == 1
        assert "2 conversations told" in summary[0] and "1 events routed" in summary[0]
        assert not any("e3" in line for line in logs)


async def test_no_crash_notice_when_it_is_empty(url, client, adapter):
    await _dying_worker(client)
    async with Ingress(settings_for(url, crash_notice=""), adapters=[adapter]):
        await until(lambda: _not(client.hexists(WORKERS, "w9")), "w9 handed over")
        assert adapter.sent == []
        assert await client.get("waiter:own:k1") is None


async def _not(value: Awaitable[Any]) -> bool:
    return not await value


# --- Redis down -------------------------------------------------------------------------------


async def test_redis_restarted_mid_run_keeps_the_events_and_says_so_once(
    url, client, adapter, logs, redis_server
):
    async with Ingress(settings_for(url), adapters=[adapter]):
        adapter.feed(message("before", "u1"))
        stream = shard_of(None, "u1")
        await until(lambda: ids_on(client, stream), "the first event")
        redis_server.stop()
        try:
            adapter.feed(message("during1", "u1"))

            async def said() -> bool:
                return any(line.startswith("ERROR") for line in logs)

            await until(said, "the ERROR line")
            adapter.feed(message("during2", "u1"))
        finally:
            redis_server.start()
        # The restarted server has no data (no persistence): only what came after.
        got = await until(lambda: ids_on(client, stream), "the queued events")
        assert got == ["during1", "during2"]
        await until(
            lambda: _true(any(line.startswith("INFO the cluster's Redis") for line in logs)),
            "the INFO line",
        )
        errors = [line for line in logs if line.startswith("ERROR")]
        assert len(errors) == 1
        assert (
            "WAITER_CLUSTER__REDIS" in errors[0] and f"127.0.0.1:{redis_server.port}" in errors[0]
        )


async def _true(value: bool) -> bool:
    return value


async def test_stopping_while_redis_is_down_finishes_promptly(url, adapter, logs, redis_server):
    ingress = Ingress(settings_for(url), adapters=[adapter])
    await ingress.start()
    redis_server.stop()
    try:
        adapter.feed(message("lost", "u1"))
        await until(lambda: _true(any(line.startswith("ERROR") for line in logs)), "ERROR")
        async with asyncio.timeout(2):  # the grace is 5 s: promptly means without waiting it
            await ingress.stop()
    finally:
        redis_server.start()
    assert any("1 events were not forwarded" in line for line in logs)


async def test_a_worker_that_left_is_handed_over_and_an_unlisted_one_is_not(url, client, adapter):
    members = Members(client, dead_after=0.3)
    await members.beat("w7", {"pid": 7})
    await members.beat("w8", {"pid": 8})
    for worker in ("w7", "w8"):
        await client.xadd(worker_stream(worker), {"payload": b"{}"})
        await client.hset(notify_key(worker), "k", b"{}")
    async with Ingress(settings_for(url), adapters=[adapter]) as ingress:
        await until(lambda: _live(ingress, {"w7", "w8"}), "both seen alive")
        # w7 stops cleanly; w8 vanishes from the list, as after Redis restarted empty, and
        # is still beating (here: its alive key stays), so it must keep its stream.
        await members.leave("w7")
        await client.hdel(WORKERS, "w8")

        async def w7_gone() -> bool:
            return not await client.exists(worker_stream("w7"))

        await until(w7_gone, "w7 handed over")
        assert not await client.hexists(WORKERS, "w7")
        assert adapter.sent == []  # a clean leave tells nobody
        assert await client.exists(worker_stream("w8"), notify_key("w8")) == 2
        await members.beat("w8", {"pid": 8})  # its next heartbeat lists it again
        await until(lambda: _live(ingress, {"w8"}), "w8 alive again")
        assert await client.exists(worker_stream("w8"), notify_key("w8")) == 2


async def _live(ingress: Any, wanted: set[str]) -> bool:
    return ingress.live is not None and set(ingress.live) == wanted
