"""``Ownership`` against a real redis-server: claims, conflicts, compare-and-delete, refresh,
all-or-none claims raced by two workers, Redis's own expiry, and errors of an unreachable server.

Each test has a database of its own. The two "workers" are two ``Ownership`` objects on two
separate clients (two connection pools), so their commands interleave at the server as two
processes' would. Nothing here reads the wall clock to judge a duration: expiry is awaited by
polling Redis in a loop whose real-time bound only stops a broken test from hanging.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from tests.cluster.conftest import make_client
from tests.redis_kit import free_port
from waiter_sdk.exceptions import OwnershipError, SessionBusyError
from waiter_sdk.session.keys import encode_key

try:
    from redis.asyncio import Redis

    from waiter_sdk.cluster import Claim, Ownership
except ImportError:  # _needs_redis skips every test, or fails it under CI=true, saying why
    pass

KEY = encode_key("sender", "onebot11", "10001", "g42", "7")
TTL = 30.0


@pytest.fixture
def w1(clients: Callable[..., Redis]) -> Ownership:
    return Ownership(clients(), "w1", TTL)


@pytest.fixture
def w2(clients: Callable[..., Redis]) -> Ownership:
    return Ownership(clients(), "w2", TTL)


def own(key: str) -> str:
    return "waiter:own:" + key


async def _calls(raw: Redis, command: str) -> int:
    stats = await raw.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


# --- claim ------------------------------------------------------------------------------------


async def test_a_free_key_is_claimed_with_the_worker_as_owner_and_an_expiry(w1, raw):
    claim = await w1.claim(KEY)

    assert claim == Claim(claimed=True, previous=None, worker_id="w1")
    assert claim.owner == "w1"
    assert await raw.get(own(KEY)) == "w1"
    assert 0 < await raw.pttl(own(KEY)) <= TTL * 1000


async def test_a_held_key_is_busy_and_left_as_it_was(w1, w2, raw):
    await w1.claim(KEY)
    before = await raw.pttl(own(KEY))

    claim = await w2.claim(KEY)

    assert not claim.claimed and claim.previous == "w1" and claim.owner == "w1"
    assert await raw.get(own(KEY)) == "w1"
    assert await raw.pttl(own(KEY)) <= before  # the busy claim did not touch the expiry
    error = claim.busy_error(KEY)
    assert isinstance(error, SessionBusyError)
    assert KEY in str(error) and "worker w1" in str(error) and "conflict='replace'" in str(error)


async def test_a_key_this_worker_holds_is_busy_too_for_its_registry_to_judge(w1):
    await w1.claim(KEY)

    claim = await w1.claim(KEY)

    assert not claim.claimed and claim.owner == "w1"
    assert "this worker" in str(claim.busy_error(KEY))


async def test_replace_takes_the_key_over_and_names_the_previous_owner(w1, w2, raw):
    await w1.claim(KEY)

    claim = await w2.claim(KEY, replace=True)

    assert claim.claimed and claim.previous == "w1" and claim.owner == "w2"
    assert await raw.get(own(KEY)) == "w2"
    assert 0 < await raw.pttl(own(KEY)) <= TTL * 1000
    # Replacing a free key is a plain claim: nobody to tell.
    assert await w2.claim("other", replace=True) == Claim(True, None, "w2")


async def test_keys_are_stored_under_the_prefix_as_encoded(clients, raw):
    odd = encode_key("sender", "sim", "bot", "g|1", "a\\b")
    mine = Ownership(clients(), "w9", TTL, prefix="bot7:own:")

    assert (await mine.claim(odd)).claimed

    assert await raw.keys("*") == ["bot7:own:" + odd]
    assert await mine.owners([odd]) == ["w9"]


# --- release ----------------------------------------------------------------------------------


async def test_release_deletes_only_keys_still_owned_by_this_worker(w1, w2, raw):
    await w1.claim("a")
    await w1.claim("b")
    await w2.claim("c")
    await w2.claim("b", replace=True)  # w1's session on "b" was replaced meanwhile

    assert await w1.release(["a", "b", "c", "missing"]) == 1

    assert await raw.exists(own("a")) == 0
    assert await raw.get(own("b")) == "w2"
    assert await raw.get(own("c")) == "w2"
    assert await w1.release([]) == 0


# --- refresh ----------------------------------------------------------------------------------


async def test_refresh_extends_only_own_keys_and_reports_the_lost_ones(clients, raw):
    long = Ownership(clients(), "w1", 100.0)
    short = Ownership(clients(), "w2", 5.0)
    await long.claim("mine")
    await long.claim("taken")
    await short.claim("taken", replace=True)
    await raw.pexpire(own("mine"), 1000)  # as if most of its ttl had passed

    kept = await long.refresh(["mine", "taken", "never"])

    assert kept == [True, False, False]
    assert 1000 < await raw.pttl(own("mine")) <= 100_000
    assert await raw.get(own("taken")) == "w2"
    assert await raw.pttl(own("taken")) <= 5000  # w2's expiry, not extended by w1
    assert await raw.exists(own("never")) == 0  # refresh never creates a key
    assert await long.refresh([]) == []


# --- owners -----------------------------------------------------------------------------------


async def test_owners_answers_for_many_keys_in_one_mget(w1, w2, raw):
    keys = [f"k{i}" for i in range(300)]
    assert (await w1.claim_many(keys[:100])).claimed
    assert (await w2.claim_many(keys[100:200])).claimed
    before = await _calls(raw, "mget")

    found = await w2.owners([*keys, "k0"])

    assert await _calls(raw, "mget") == before + 1
    assert found == ["w1"] * 100 + ["w2"] * 100 + [None] * 100 + ["w1"]  # duplicates kept
    assert await w2.owners([]) == []


async def test_owners_reads_a_client_that_decodes_responses(clients, w1):
    await w1.claim(KEY)
    reader = Ownership(clients(decode_responses=True), "ingress", TTL)

    assert await reader.owners([KEY, "free"]) == ["w1", None]


# --- claim_many -------------------------------------------------------------------------------


async def test_claim_many_claims_all_or_none(w1, w2, raw):
    await w1.claim("x")

    blocked = await w2.claim_many(["a", "x", "b"])

    assert not blocked.claimed
    assert blocked.held() == {"x": "w1"}
    assert blocked.replaced() == set()
    assert "x" in str(blocked.busy_error()) and "worker w1" in str(blocked.busy_error())
    assert await raw.exists(own("a"), own("b")) == 0  # nothing written by the failed claim

    won = await w2.claim_many(["a", "b", "a"])  # a key listed twice is one key
    assert won.claimed and won.keys == ("a", "b") and won.previous == (None, None)
    with pytest.raises(ValueError, match="succeeded"):
        won.busy_error()
    assert await raw.mget([own("a"), own("b")]) == ["w2", "w2"]


async def test_claim_many_with_replace_takes_every_key_and_names_whom_from(w1, w2, raw):
    await w1.claim("x")
    await w2.claim("b")

    claims = await w1.claim_many(["b", "c", "x"], replace=True)

    assert claims.claimed and claims.previous == ("w2", None, "w1")
    assert claims.replaced() == {"w2"}  # w1's own earlier claim is not another worker's
    assert await raw.mget([own("b"), own("c"), own("x")]) == ["w1", "w1", "w1"]
    for key in "bcx":
        assert 0 < await raw.pttl(own(key)) <= TTL * 1000


async def test_two_workers_racing_for_overlapping_key_sets_never_both_win(w1, w2, raw):
    # A cross-chat session's keys (user across chats, its group, a quoted reply) against
    # another worker's session sharing one of them; 200 rounds, all in flight at once on two
    # separate connections, so the server sees the two workers' scripts interleaved.
    rounds = 200

    def first(i: int) -> list[str]:
        return [f"user:{i}", f"group:{i}", f"reply:{i}"]

    def second(i: int) -> list[str]:
        return [f"reply:{i}", f"other:{i}", f"group:{i}"]

    results = await asyncio.gather(
        *(w.claim_many(keys(i)) for i in range(rounds) for w, keys in ((w1, first), (w2, second)))
    )

    for i in range(rounds):
        one, two = results[2 * i], results[2 * i + 1]
        assert one.claimed != two.claimed, f"round {i}: exactly one must win"
        winner, loser = ("w1", two) if one.claimed else ("w2", one)
        everything = sorted({*first(i), *second(i)})
        owners = dict(zip(everything, await raw.mget([own(k) for k in everything]), strict=True))
        won = first(i) if winner == "w1" else second(i)
        assert all(owners[k] == winner for k in won)
        assert all(owners[k] is None for k in everything if k not in won)  # nothing of the loser
        assert set(loser.held().values()) == {winner}


async def test_two_workers_racing_for_one_key_never_both_win(w1, w2, raw):
    keys = [f"k{i}" for i in range(200)]

    results = await asyncio.gather(*(w.claim(k) for k in keys for w in (w1, w2)))

    for i, key in enumerate(keys):
        one, two = results[2 * i], results[2 * i + 1]
        assert one.claimed != two.claimed
        winner = "w1" if one.claimed else "w2"
        assert one.owner == two.owner == winner
        assert await raw.get(own(key)) == winner


# --- expiry -----------------------------------------------------------------------------------


async def test_a_claim_expires_by_redis_own_clock(clients, w2, raw):
    brief = Ownership(clients(), "w1", 0.05)  # 50 ms: a worker that stopped refreshing
    assert (await brief.claim(KEY)).claimed
    assert 0 < await raw.pttl(own(KEY)) <= 50

    # Redis's clock decides; this loop only waits for it, and gives up rather than hang.
    give_up = time.monotonic() + 10
    while await raw.exists(own(KEY)):
        assert time.monotonic() < give_up, "the 50 ms claim never expired"
        await asyncio.sleep(0.01)

    assert await brief.refresh([KEY]) == [False]  # the heartbeat reports it lost
    assert await brief.release([KEY]) == 0
    assert (await w2.claim(KEY)) == Claim(True, None, "w2")  # free for another worker


# --- errors -----------------------------------------------------------------------------------


async def test_an_unreachable_server_gives_a_clear_error_without_the_password():
    client = make_client(f"redis://:s3cret-pass@127.0.0.1:{free_port()}/0", timeout=2.0)
    mine = Ownership(client, "w1", TTL)
    try:
        for call in (
            lambda: mine.claim(KEY),
            lambda: mine.claim(KEY, replace=True),
            lambda: mine.claim_many([KEY, "b"]),
            lambda: mine.refresh([KEY]),
            lambda: mine.release([KEY]),
            lambda: mine.owners([KEY]),
        ):
            with pytest.raises(OwnershipError, match="unreachable") as failure:
                await call()
            text = str(failure.value)
            assert "Redis at 127.0.0.1:" in text and "s3cret-pass" not in text
    finally:
        await client.aclose()


async def test_errors_name_the_redis_as_the_caller_describes_it():
    client = make_client(f"redis://127.0.0.1:{free_port()}/0", timeout=2.0)
    mine = Ownership(client, "w1", TTL, describe="WAITER_REDIS=redis://:***@127.0.0.1/0")
    try:
        with pytest.raises(OwnershipError, match=r"^WAITER_REDIS=redis://:\*\*\*@.*claim"):
            await mine.claim(KEY)
    finally:
        await client.aclose()


async def test_a_wrong_password_is_reported_as_such(redis_server, raw):
    await raw.execute_command(
        "ACL", "SETUSER", "waiter-own-test", "on", ">right-password", "~*", "+@all"
    )
    client = make_client(f"redis://waiter-own-test:wr0ng-password@127.0.0.1:{redis_server.port}/0")
    try:
        with pytest.raises(OwnershipError, match="authentication failed") as failure:
            await Ownership(client, "w1", TTL).claim(KEY)
    finally:
        await client.aclose()
        await raw.execute_command("ACL", "DELUSER", "waiter-own-test")
    assert "wr0ng-password" not in str(failure.value)


async def test_a_restarted_server_is_used_again(w1, redis_server):
    assert (await w1.claim(KEY)).claimed
    redis_server.stop()
    try:
        with pytest.raises(OwnershipError, match="unreachable"):
            await w1.claim_many([KEY, "b"])
    finally:
        redis_server.start()

    # The server kept nothing (no persistence) and forgot the scripts: they load again.
    assert (await w1.claim_many([KEY, "b"])).claimed
    assert await w1.refresh([KEY, "b"]) == [True, True]


def test_settings_that_cannot_work_are_refused_at_once():
    client = Redis()  # never connects: the constructor only registers scripts
    with pytest.raises(ValueError, match="worker_id"):
        Ownership(client, "", TTL)
    with pytest.raises(ValueError, match="ttl"):
        Ownership(client, "w1", 0)
    assert Ownership(client, "w1", 0.0001).ttl_ms == 1  # PX 0 would be an error in Redis
