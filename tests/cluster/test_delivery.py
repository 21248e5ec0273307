"""``Outbox``, ``Inbox`` and ``Ledger`` against a real redis-server: round trips and acks, a
group splitting work, a dead consumer's work taken over exactly once, the ledger refusing a
second handling, stable shards, and 5,000 events through three consumers, one of them killed.

Each test has a database of its own. Every "worker" has a client of its own (its own pool), so
their commands interleave at the server as separate processes' would. Nothing here judges a
duration by the wall clock: waiting for messages to go idle is a loop over Redis's answers,
whose real-time bound only stops a broken test from hanging.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cluster.conftest import make_client
from tests.redis_kit import free_port
from waiter_sdk.exceptions import DeliveryError

try:
    from redis.asyncio import Redis

    from waiter_sdk.cluster import (
        Delivery,
        Inbox,
        Ledger,
        Outbox,
        assigned_shards,
        shard_for,
        shared_stream,
        worker_stream,
    )
except ImportError:  # _needs_redis skips every test, or fails it under CI=true, saying why
    pass

STREAM = "waiter:in:any:0"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def outbox(clients: Callable[..., Redis]) -> Outbox:
    return Outbox(clients())


async def _pending(raw: Redis, stream: str = STREAM) -> int:
    return int((await raw.xpending(stream, "workers"))["pending"])


async def _claim_all(inbox: Inbox, expected: int, stream: str = STREAM) -> list[Delivery]:
    """Claim until ``expected`` messages came back: they go idle on Redis's clock, not ours."""
    got: list[Delivery] = []
    async with asyncio.timeout(10):  # only so a broken test fails instead of hanging
        while len(got) < expected:
            got += await inbox.claim_stale(min_idle_ms=50, count=100, streams=[stream])
            await asyncio.sleep(0.01)
    return got


# --- round trips ------------------------------------------------------------------------------


async def test_sent_bytes_come_back_once_and_ack_empties_the_pending_list(outbox, clients, raw):
    inbox = Inbox(clients(), "w1", [STREAM])
    await inbox.ensure_groups()
    payloads = [b"\x00\xffnot utf-8", b'{"text":"hi"}', b""]
    ids = [await outbox.send(STREAM, p) for p in payloads]

    got = await inbox.read(count=10, block_ms=100)
    assert [(d.stream, d.id, d.payload, d.deliveries) for d in got] == [
        (STREAM, i, p, 1) for i, p in zip(ids, payloads, strict=True)
    ]
    assert await _pending(raw) == 3
    assert await inbox.read(count=10) == []  # read once only

    assert await inbox.ack(got[0]) is True
    assert await inbox.ack(got[0]) is False  # no longer pending
    assert await inbox.ack_many(got[1:]) == 2
    assert await _pending(raw) == 0


async def test_forwards_reach_only_workers_listed_and_not_being_handed_over(outbox, raw):
    from waiter_sdk.cluster.layout import WORKERS, handover_key

    await raw.hset(WORKERS, mapping={"w1": "{}", "w2": "{}"})
    await raw.set(handover_key("w2"), "ingress-1")  # w2 is being handed over right now
    ids = await outbox.send_to_workers([("w1", b"a"), ("w2", b"b"), ("w3", b"c"), ("w1", b"d")])
    assert ids[1] is None and ids[2] is None  # w2: mid-handover; w3: never listed
    assert ids[0] is not None and ids[3] is not None
    entries = await raw.xrange(worker_stream("w1"))
    assert [(i, f["payload"]) for i, f in entries] == [(ids[0], "a"), (ids[3], "d")]
    # Refused forwards create no stream that nobody would read.
    assert not await raw.exists(worker_stream("w2"), worker_stream("w3"))

    await raw.delete(handover_key("w2"))  # the handover found w2 alive and let go
    assert (await outbox.send_to_workers([("w2", b"b")]))[0] is not None


async def test_forwards_are_trimmed_like_sends_when_asked(clients, raw):
    from waiter_sdk.cluster.layout import WORKERS

    await raw.hset(WORKERS, "w1", "{}")
    outbox = Outbox(clients(), maxlen=10)
    for n in range(300):
        await outbox.send_to_workers([("w1", str(n).encode())])
    # MAXLEN ~ trims whole macro nodes only, so "about": far fewer than 300, never fewer than 10.
    assert 10 <= await raw.xlen(worker_stream("w1")) < 300


async def test_events_sent_before_any_worker_started_are_read(outbox, clients):
    await outbox.send(STREAM, b"early")
    inbox = Inbox(clients(), "w1", [STREAM])
    assert [d.payload for d in await inbox.read()] == [b"early"]


async def test_one_read_covers_the_worker_stream_and_its_shards(outbox, clients):
    streams = [worker_stream("w1"), *(shared_stream(s) for s in assigned_shards(0, 2, 4))]
    assert streams == ["waiter:in:w1", "waiter:in:any:0", "waiter:in:any:2"]
    inbox = Inbox(clients(), "w1", streams)
    for stream in [*streams, shared_stream(1)]:
        await outbox.send(stream, stream.encode())
    got = await inbox.read(block_ms=100)
    assert sorted(d.payload for d in got) == sorted(s.encode() for s in streams)  # not shard 1


async def test_groups_lost_with_a_restarted_server_are_made_again(outbox, clients, raw):
    inbox = Inbox(clients(), "w1", [STREAM])
    assert await inbox.read() == []
    await raw.flushdb()  # what a restart without persistence leaves
    await outbox.send(STREAM, b"after")
    assert [d.payload for d in await inbox.read()] == [b"after"]


async def test_two_consumers_of_one_group_split_the_messages(outbox, clients):
    a, b = Inbox(clients(), "a", [STREAM]), Inbox(clients(), "b", [STREAM])
    await a.ensure_groups()
    for n in range(100):
        await outbox.send(STREAM, str(n).encode())
    seen: Counter[bytes] = Counter()
    while got := [*await a.read(count=7), *await b.read(count=7)]:
        seen.update(d.payload for d in got)
    assert seen == Counter(str(n).encode() for n in range(100))  # each once, none to both


async def test_a_dead_consumers_messages_are_claimed_and_handled_once(outbox, clients, raw):
    dead, live = Inbox(clients(), "dead", [STREAM]), Inbox(clients(), "live", [STREAM])
    for n in range(10):
        await outbox.send(STREAM, str(n).encode())
    assert len(await dead.read(count=10)) == 10  # ... and it never acks
    assert await live.read(count=10) == []  # nothing new: it is all pending on "dead"
    # Fresh messages are not stale: nothing is taken from a live consumer too early.
    assert await live.claim_stale(min_idle_ms=60_000) == []

    handled: Counter[bytes] = Counter()
    for d in await _claim_all(live, 10):
        assert d.deliveries == 2  # read by "dead", then claimed by "live"
        handled[d.payload] += 1
        await live.ack(d)
    assert handled == Counter(str(n).encode() for n in range(10))
    assert await _pending(raw) == 0
    assert await live.claim_stale(min_idle_ms=0) == []


async def test_claiming_a_stream_no_worker_ever_read_finds_nothing(clients):
    inbox = Inbox(clients(), "w1", [STREAM])
    assert await inbox.claim_stale(min_idle_ms=0, streams=["waiter:in:nobody"]) == []


# --- the ledger -------------------------------------------------------------------------------


async def test_the_ledger_lets_a_message_be_begun_once(clients, raw):
    w1, w2 = Ledger(clients(), ttl=30), Ledger(clients(), ttl=30)
    assert await w1.state("onebot11:1:55") is None
    assert await w1.begin("onebot11:1:55") is True
    assert await w2.begin("onebot11:1:55") is False  # a reclaim after a crash: refused
    assert await w1.state("onebot11:1:55") == "begun"
    assert await w1.done("onebot11:1:55") is True
    assert await w2.begin("onebot11:1:55") is False
    assert await w2.state("onebot11:1:55") == "done"
    assert 0 < await raw.pttl("waiter:seen:onebot11:1:55") <= 30_000
    assert await w1.done("never-begun") is False  # expired or never begun: say so


async def test_handled_but_unacked_is_acked_without_handling_again(outbox, clients, raw):
    """The crash window: the worker handled the message and died before XACK."""
    ledger = Ledger(clients(), ttl=30)
    dead, live = Inbox(clients(), "dead", [STREAM]), Inbox(clients(), "live", [STREAM])
    await outbox.send(STREAM, b"m1")
    (first,) = await dead.read()
    assert await ledger.begin("m1")
    await ledger.done("m1")  # ... and the worker dies here, before ack

    (again,) = await _claim_all(live, 1)
    assert again.id == first.id
    assert await ledger.begin("m1") is False  # already handled: only ack
    await live.ack(again)
    assert await _pending(raw) == 0


# --- shards -----------------------------------------------------------------------------------


def test_shards_are_the_same_in_every_process():
    # CRC-32 values, fixed: a change here reorders every chat in flight.
    expected = {"onebot11:g42": 0, "onebot11:p10001": 3, "telegram:-100123": 0, "": 0}
    assert {k: shard_for(k, 4) for k in expected} == expected
    assert shard_for("onebot11:g42", 16) == 8
    # And in a process with another hash seed (hash() would differ there).
    code = "from waiter_sdk.cluster import shard_for; print(shard_for('onebot11:p10001', 4))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)},
    )
    assert out.stdout.strip() == "3"


def test_shards_spread_keys_over_every_shard():
    counts = Counter(shard_for(f"onebot11:g{n}", 4) for n in range(1000))
    assert set(counts) == {0, 1, 2, 3}
    assert min(counts.values()) > 150  # about 250 each; none starved


def test_each_shard_has_exactly_one_worker():
    for workers in (1, 2, 3, 5):
        taken = [s for i in range(workers) for s in assigned_shards(i, workers, 4)]
        assert sorted(taken) == [0, 1, 2, 3]


# --- many messages, one consumer killed -------------------------------------------------------


async def test_5000_messages_through_three_consumers_one_killed_each_handled_once(
    outbox, clients, raw
):
    total = 5000
    pipe = raw.pipeline(transaction=False)
    for n in range(total):
        pipe.xadd(STREAM, {"payload": str(n)})
    await pipe.execute()

    handled: Counter[bytes] = Counter()
    victim_stuck = asyncio.Event()
    victim_handled = 0
    victim_batch: list[Delivery] = []
    reclaimed: list[Delivery] = []  # taken over from the victim by claim_stale
    refused = 0  # handled by the victim, so the ledger said no to the one that reclaimed it

    async def consume(name: str, die_after: int | None = None) -> None:
        nonlocal victim_handled, refused
        inbox, ledger = Inbox(clients(), name, [STREAM]), Ledger(clients(), ttl=60)
        batches = 0
        while True:
            got = await inbox.read(count=50, block_ms=20)
            if not got:
                got = await inbox.claim_stale(min_idle_ms=50, count=50)
                reclaimed.extend(got)
            if not got and sum(handled.values()) == total and not await _pending(raw):
                return  # all handled, and nothing left pending (the victim's, acked too)
            batches += 1
            for i, d in enumerate(got):
                if await ledger.begin(d.payload.decode()):
                    handled[d.payload] += 1
                    if die_after is not None:
                        victim_handled += 1
                    await ledger.done(d.payload.decode())
                else:
                    refused += 1
                if die_after is not None and batches == die_after and i == len(got) // 2:
                    # Half a batch handled, none of it acked: then killed.
                    victim_batch.extend(got)
                    victim_stuck.set()
                    await asyncio.Event().wait()
            await inbox.ack_many(got)
            await asyncio.sleep(0)

    async with asyncio.timeout(25):  # only so a broken test fails instead of hanging
        victim = asyncio.create_task(consume("victim", die_after=3))
        others = [asyncio.create_task(consume(n)) for n in ("w1", "w2")]
        await victim_stuck.wait()
        victim.cancel()
        with pytest.raises(asyncio.CancelledError):
            await victim
        await asyncio.gather(*others)

    assert handled == Counter(str(n).encode() for n in range(total))  # every one, once
    assert victim_handled > 0
    # The victim died holding a batch: all of it was reclaimed by the others, and the part it
    # had handled was acked by them without handling it again. (At least: on a slow machine a
    # live consumer's batch may also go idle past 50 ms and be reclaimed, refused the same way.)
    assert {d.id for d in victim_batch} <= {d.id for d in reclaimed}
    assert all(d.deliveries >= 2 for d in reclaimed)
    assert refused >= len(victim_batch) // 2 + 1
    assert await _pending(raw) == 0


# --- errors and settings ----------------------------------------------------------------------


async def test_an_unreachable_server_gives_a_clear_error_without_the_password():
    client = make_client(f"redis://:s3cret-pass@127.0.0.1:{free_port()}/0", timeout=2.0)
    out, inbox, ledger = Outbox(client), Inbox(client, "w1", [STREAM]), Ledger(client, ttl=30)
    delivery = Delivery(STREAM, "1-0", b"", 1)
    try:
        for call in (
            lambda: out.send(STREAM, b"x"),
            lambda: inbox.read(),
            lambda: inbox.ack(delivery),
            lambda: inbox.ack_many([delivery]),
            lambda: inbox.claim_stale(min_idle_ms=0),
            lambda: ledger.begin("m"),
            lambda: ledger.done("m"),
            lambda: ledger.state("m"),
        ):
            with pytest.raises(DeliveryError, match="unreachable") as failure:
                await call()
            text = str(failure.value)
            assert "Redis at 127.0.0.1:" in text and "s3cret-pass" not in text
    finally:
        await client.aclose()


def test_settings_that_cannot_work_are_refused_at_once():
    client = Redis(socket_timeout=1.0)  # never connects
    with pytest.raises(ValueError, match="decode_responses"):
        Outbox(Redis(decode_responses=True))
    with pytest.raises(ValueError, match="maxlen"):
        Outbox(client, maxlen=0)
    with pytest.raises(ValueError, match="consumer"):
        Inbox(client, "", [STREAM])
    with pytest.raises(ValueError, match="streams"):
        Inbox(client, "w1", [])
    with pytest.raises(ValueError, match="ttl"):
        Ledger(client, ttl=0)
    with pytest.raises(ValueError, match="any"):
        worker_stream("any:0")
    with pytest.raises(ValueError, match="shards"):
        shard_for("k", 0)


async def test_a_block_longer_than_the_socket_waits_is_refused():
    inbox = Inbox(Redis(socket_timeout=1.0), "w1", [STREAM])
    with pytest.raises(ValueError, match="socket_timeout"):
        await inbox.read(block_ms=1000)
    with pytest.raises(ValueError, match="block_ms"):
        await inbox.read(block_ms=0)
