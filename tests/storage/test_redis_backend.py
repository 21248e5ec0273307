"""What only the Redis backend can get wrong: its key layout and escaping, the Lua write's
atomicity, errors of an unreachable or restarted server, and counting under concurrency.

The contract every backend shares is tested through ``Storage`` in the cross-backend suite;
these tests talk to ``RedisBackend`` directly and look at the keys it leaves in Redis.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from waiter_sdk.exceptions import StorageError, StoredValueError
from waiter_sdk.storage import Bucket, Storage, open_backend

try:
    from redis.asyncio import Redis

    from waiter_sdk.storage.redis import _BATCH, RedisBackend
except ImportError:  # _needs_redis skips every test, or fails it under CI=true, saying why
    pass

ALICE = Bucket("user", "quiz", "sim:alice")


def _closed_port() -> int:
    # Bound and released: nothing listens there for the moment the test needs it.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def _needs_redis(redis_server) -> None:
    """redis-server and redis-py, or the conftest's skip (a failure under CI=true)."""


@pytest.fixture
def url(redis_server) -> str:
    return redis_server.url()


@pytest.fixture
async def backend(url: str) -> AsyncIterator[RedisBackend]:
    opened = RedisBackend(url, timeout=5.0)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def raw(url: str) -> AsyncIterator[Redis]:
    """A plain client on the same database, to see what the backend stored."""
    client = Redis.from_url(url)
    try:
        yield client
    finally:
        await client.aclose()


async def _keys(raw: Redis) -> set[str]:
    return {key.decode() for key in await raw.keys("*")}


# --- layout and escaping ------------------------------------------------------------------


async def test_a_record_is_one_hash_of_json_text_beside_its_owner_set(backend, raw):
    counted = await backend.write(ALICE, {"title": "sage", "tags": ["a", 1]}, {"played": (1, 0)})

    assert counted == {"played": 1}
    assert await _keys(raw) == {"waiter:user:quiz:sim%3Aalice", "waiter:owners:user:quiz"}
    assert await raw.hgetall("waiter:user:quiz:sim%3Aalice") == {
        b"title": b'"sage"',
        b"tags": b'["a",1]',
        b"played": b"1",
    }
    assert await raw.smembers("waiter:owners:user:quiz") == {b"sim:alice"}
    assert await backend.load(ALICE) == {"title": "sage", "tags": ["a", 1], "played": 1}
    assert await backend.load(ALICE, ["played", "absent"]) == {"played": 1}
    assert await backend.names(ALICE) == ["played", "tags", "title"]

    assert await backend.delete(ALICE, ["title", "absent"]) == 1
    assert await backend.owners("user", "quiz") == ["sim:alice"]
    assert await backend.delete(ALICE, ["tags", "played"]) == 2
    # The emptied hash is gone from Redis, and so is its owner from the set.
    assert await _keys(raw) == set()
    assert await backend.owners("user", "quiz") == []


async def test_no_plugin_or_owner_id_reaches_another_record(backend, raw):
    # Unescaped, each pair here would name one and the same key.
    pairs = [
        (Bucket("user", "p:x", "y"), Bucket("user", "p", "x:y")),
        (Bucket("user", "p", "a:b"), Bucket("user", "p", "a%3Ab")),
        (Bucket("user", "p", "a%3Ab"), Bucket("user", "p", "a%253Ab")),
        (Bucket("kv", "p:", ""), Bucket("kv", "p", ":")),
    ]
    buckets = {bucket for pair in pairs for bucket in pair}
    for bucket in buckets:
        await backend.write(bucket, {"who": [bucket.plugin, bucket.owner]}, {"n": (1, 0)})

    for bucket in buckets:
        assert await backend.load(bucket) == {"who": [bucket.plugin, bucket.owner], "n": 1}
    assert await backend.owners("user", "p") == sorted(["x:y", "a:b", "a%3Ab", "a%253Ab"])
    assert await backend.owners("user", "p:x") == ["y"]
    assert await backend.owners("kv", "p:") == [""]
    assert await backend.owners("kv", "p") == [":"]
    records = {key for key in await _keys(raw) if not key.startswith("waiter:owners:")}
    assert len(records) == len(buckets)
    # Every key splits back into exactly its four parts.
    assert all(len(key.split(":")) == 4 for key in records)
    assert "waiter:user:p%3Ax:y" in records


async def test_an_owner_prefix_is_matched_literally_not_as_a_glob(backend):
    for owner in ["sim:a*b", "sim:axb", "sim:[a]", "sim:a", "sim:?", "sim:\\x", "tg:a*b"]:
        await backend.write(Bucket("user", "quiz", owner), {"x": 1}, {})

    assert await backend.owners("user", "quiz", "sim:a*") == ["sim:a*b"]
    assert await backend.owners("user", "quiz", "sim:[") == ["sim:[a]"]
    assert await backend.owners("user", "quiz", "sim:?") == ["sim:?"]
    assert await backend.owners("user", "quiz", "sim:\\") == ["sim:\\x"]
    assert await backend.owners("user", "quiz", "sim:a") == ["sim:a", "sim:a*b", "sim:axb"]
    assert len(await backend.owners("user", "quiz")) == 7


# --- the Lua write ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_field", "stored", "message"),
    [
        ("word", {"word": "five"}, "holds something other than an integer"),
        ("real", {"real": 2.0}, "holds something other than an integer"),
        ("flag", {"flag": True}, "holds something other than an integer"),
        ("full", {}, "64-bit"),  # a counter at the top of Redis's range
    ],
)
async def test_a_counter_that_cannot_be_incremented_changes_nothing(
    backend, raw, bad_field, stored, message
):
    await backend.write(ALICE, {"title": "old", **stored}, {"played": (3, 0)})
    await backend.write(ALICE, {}, {"full": (2**63 - 1, 0)})
    before = await raw.hgetall("waiter:user:quiz:sim%3Aalice")

    # The good counters come first, so the script has already changed them when it fails.
    with pytest.raises(StoredValueError, match=message) as failure:
        await backend.write(
            ALICE,
            {"title": "new", "extra": 1},
            {"played": (1, 0), "fresh": (5, 10), bad_field: (1, 0)},
        )

    text = str(failure.value)
    assert "plugin quiz" in text and repr(bad_field) in text and "sim:alice" in text
    assert await raw.hgetall("waiter:user:quiz:sim%3Aalice") == before


async def test_a_failed_write_to_a_new_record_leaves_no_record_and_no_owner(backend, raw):
    with pytest.raises(StoredValueError, match="64-bit"):
        await backend.write(ALICE, {"title": "x"}, {"n": (1, 2**63 - 1)})

    assert await _keys(raw) == set()
    assert await backend.owners("user", "quiz") == []


async def test_counters_past_two_to_the_53_come_back_exact(backend):
    # Lua numbers are doubles: a value returned through one would come back rounded.
    assert await backend.write(ALICE, {}, {"big": (1, 2**62)}) == {"big": 2**62 + 1}
    assert await backend.write(ALICE, {}, {"big": (2, 0)}) == {"big": 2**62 + 3}
    assert await backend.load(ALICE) == {"big": 2**62 + 3}


async def test_concurrent_increments_from_two_clients_all_count(url):
    first, second = RedisBackend(url), RedisBackend(url)
    await first.open()
    await second.open()
    try:
        # More at once than either pool has connections, so some calls wait for one.
        results = await asyncio.gather(
            *((first if i % 2 else second).write(ALICE, {}, {"hits": (1, 0)}) for i in range(200))
        )
        assert sorted(r["hits"] for r in results) == list(range(1, 201))
        assert await first.load(ALICE) == {"hits": 200}
    finally:
        await first.close()
        await second.close()


# --- schema and migrations ------------------------------------------------------------------


async def test_drop_and_rename_update_records_owners_and_schema(backend, raw):
    await backend.add_fields("user", "quiz", {"title": "str", "played": "Counter"})
    await backend.add_fields("user", "quiz", {"title": "str | None"})
    await backend.write(Bucket("user", "quiz", "a"), {"title": "x"}, {"played": (1, 0)})
    await backend.write(Bucket("user", "quiz", "b"), {"title": "y"}, {})
    await backend.write(Bucket("user", "quiz", "c"), {}, {"played": (2, 0)})
    await backend.write(Bucket("user", "other", "a"), {"title": "kept"}, {})
    assert await backend.schema("user", "quiz") == {"title": "str | None", "played": "Counter"}

    assert await backend.rename_field("user", "quiz", "title", "name") == 2
    assert await backend.schema("user", "quiz") == {"name": "str | None", "played": "Counter"}
    assert await backend.load(Bucket("user", "quiz", "a")) == {"name": "x", "played": 1}
    assert await backend.load(Bucket("user", "other", "a")) == {"title": "kept"}
    # Renaming a field to itself counts its records and changes nothing.
    assert await backend.rename_field("user", "quiz", "name", "name") == 2
    assert await backend.load(Bucket("user", "quiz", "b")) == {"name": "y"}

    assert await backend.drop_field("user", "quiz", "played") == 2
    assert await backend.schema("user", "quiz") == {"name": "str | None"}
    # c held only the dropped field: its hash is gone, and it is no longer an owner.
    assert await backend.owners("user", "quiz") == ["a", "b"]
    assert not await raw.exists("waiter:user:quiz:c")
    assert await backend.schema("user", "other") == {}


async def test_drop_and_rename_reach_every_record_past_one_batch(backend):
    count = 2 * _BATCH + 37
    await asyncio.gather(
        *(backend.write(Bucket("channel", "quiz", f"sim:g{i}"), {"a": i}, {}) for i in range(count))
    )

    assert await backend.rename_field("channel", "quiz", "a", "b") == count
    assert await backend.load(Bucket("channel", "quiz", "sim:g7")) == {"b": 7}
    assert await backend.drop_field("channel", "quiz", "b") == count
    assert await backend.owners("channel", "quiz") == []


# --- errors -------------------------------------------------------------------------------


async def test_an_unreachable_server_names_the_setting_but_not_the_password():
    port = _closed_port()
    backend = RedisBackend(f"redis://:s3cret@127.0.0.1:{port}/0", timeout=5.0)
    with pytest.raises(StorageError) as failure:
        await backend.open()
    await backend.close()

    text = str(failure.value)
    assert f"WAITER_STORAGE=redis://:***@127.0.0.1:{port}/0" in text
    assert "unreachable" in text
    assert "s3cret" not in text


async def test_storage_logs_an_unreachable_redis_without_the_password(tmp_path, logs):
    port = _closed_port()
    storage = Storage(f"redis://:s3cret@127.0.0.1:{port}/0", tmp_path)
    assert isinstance(open_backend(storage.url, tmp_path, 1.0), RedisBackend)

    assert await storage.open() is False
    with pytest.raises(StorageError, match="unreachable") as failure:
        await storage.kv("quiz").get("k")
    await storage.close()

    assert any("WAITER_STORAGE" in line and "unreachable" in line for line in logs)
    assert not any("s3cret" in line for line in logs)
    assert "s3cret" not in str(failure.value)


async def test_a_wrong_password_is_reported_as_such(redis_server, raw):
    # A user of its own: the server is shared, and its default user has no password.
    await raw.execute_command(
        "ACL", "SETUSER", "waiter-test", "on", ">right-password", "~*", "+@all"
    )
    backend = RedisBackend(
        f"redis://waiter-test:wr0ng-password@127.0.0.1:{redis_server.port}/0", timeout=5.0
    )
    try:
        with pytest.raises(StorageError) as failure:
            await backend.open()
    finally:
        await backend.close()
        await raw.execute_command("ACL", "DELUSER", "waiter-test")

    text = str(failure.value)
    assert "authentication failed" in text and "WAITER_STORAGE=" in text
    assert "wr0ng-password" not in text


async def test_a_server_that_never_answers_times_out_as_a_storage_error():
    # Listening but never accepting: the connection is made, no reply ever comes.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        backend = RedisBackend(f"redis://127.0.0.1:{port}/0", timeout=0.2)
        with pytest.raises(StorageError, match=r"WAITER_STORAGE=redis://127\.0\.0\.1"):
            await backend.open()
        await backend.close()


async def test_a_restarted_server_is_used_again_without_reopening(backend, redis_server):
    assert await backend.write(ALICE, {"title": "before"}, {"n": (1, 0)}) == {"n": 1}

    redis_server.stop()
    try:
        with pytest.raises(StorageError, match="unreachable"):
            await backend.load(ALICE)
        with pytest.raises(StorageError, match="unreachable"):
            await backend.write(ALICE, {}, {"n": (1, 0)})
    finally:
        redis_server.start()

    # The server kept nothing (no persistence), and forgot the Lua scripts too: the write
    # loads its script again.
    assert await backend.write(ALICE, {"title": "after"}, {"n": (1, 0)}) == {"n": 1}
    assert await backend.load(ALICE) == {"title": "after", "n": 1}


async def test_a_closed_backend_refuses_calls(url):
    backend = RedisBackend(url)
    await backend.open()
    await backend.close()
    with pytest.raises(StorageError, match="not open"):
        await backend.load(ALICE)


async def test_a_call_that_finds_every_connection_busy_waits_its_turn(url: str) -> None:
    # Every slot taken (as by 50 calls in flight during a burst): the next call waits for one,
    # however long the burst, and then runs; it does not fail for having come 51st.
    busy = RedisBackend(url, timeout=0.1)
    await busy.open()
    try:
        await busy.write(ALICE, {"title": "sage"}, {})
        busy._slots = asyncio.Semaphore(0)
        waiting = asyncio.ensure_future(busy.load(ALICE))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not waiting.done()
        busy._slots.release()
        assert await waiting == {"title": "sage"}
    finally:
        await busy.close()
