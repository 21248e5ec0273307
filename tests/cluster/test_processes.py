"""Three worker processes and an ingress on a real redis-server, driven over the OneBot fake.

The ingress runs in the test's own loop with the real OneBot v11 adapter, which the fake
implementation connects to over a reverse WebSocket; the workers are ``waiter-sdk worker``
child processes loading the example plugins and ``cluster_plugins.py``. One redis-server of
this module's own serves them, so that restarting it disturbs no other test.

The scenarios run in one order on one cluster (starting processes is the slow part): the
killed worker comes last.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from loguru import logger

from tests.onebot11.fake import FakeOneBot, Sent
from tests.redis_kit import RedisServer, redis_server_for

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "tok-cluster"
SELF_ID = 10001
WORKERS = ("w1", "w2", "w3")
SHARDS = 16
ALICE, BOB, CAROL = 2001, 2002, 2003

# One loop for the module: the cluster fixture and every scenario share it.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    yield from redis_server_for(tmp_path_factory)


def _env(redis: RedisServer, worker_id: str | None, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAITER_")}
    env.update(
        WAITER_CLUSTER__REDIS=redis.url(0),
        WAITER_CLUSTER__SHARDS=str(SHARDS),
        WAITER_CLUSTER__HEARTBEAT="0.2",
        WAITER_CLUSTER__DEAD_AFTER="2.0",
        WAITER_CLUSTER__OWNERSHIP_TTL="10",
        WAITER_CLUSTER__CRASH_NOTICE="This conversation was lost with a bot process; sorry!",
        WAITER_DATA_DIR=str(data),
        WAITER_LOG_LEVEL="INFO",
        PYTHONPATH=str(ROOT),
    )
    if worker_id is not None:
        env["WAITER_CLUSTER__WORKER_ID"] = worker_id
    return env


def _settled(info: dict[str, Any] | None, wanted: set[str]) -> bool:
    """A worker's heartbeat says its shards are those of exactly ``wanted``, and its reads too."""
    return info is not None and info.get("view") == info.get("reading") == sorted(wanted)


class Cluster:
    """The worker processes, the in-process ingress and the fake platform of one module."""

    def __init__(self, redis: RedisServer, data: Path) -> None:
        self.redis = redis
        self.data = data
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.fake = FakeOneBot(SELF_ID, token=TOKEN)
        self.ingress: Any = None
        self.adapter: Any = None
        self.logs: list[str] = []

    def log_of(self, worker_id: str) -> str:
        return (self.data / f"{worker_id}.log").read_text(encoding="utf-8", errors="replace")

    def start_worker(self, worker_id: str) -> None:
        out = (self.data / f"{worker_id}.log").open("ab")
        self.procs[worker_id] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "waiter_sdk",
                "worker",
                "--plugins",
                "example_plugins",
                str(ROOT / "tests" / "cluster" / "cluster_plugins.py"),
            ],
            cwd=ROOT,
            env=_env(self.redis, worker_id, self.data),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()

    def kill(self, worker_id: str) -> None:
        proc = self.procs.pop(worker_id)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        # SIGTERM to all at once, then one shared budget: a worker that cannot stop cleanly
        # (its Redis gone) is killed rather than holding the suite.
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    async def wait_live(self, wanted: set[str], within: float = 30.0) -> None:
        from redis.asyncio import Redis

        from waiter_sdk.cluster.membership import Members

        client = Redis.from_url(self.redis.url(0))
        members = Members(client, dead_after=2.0)
        try:
            # Live, and each has computed its shards from this very membership (its last
            # heartbeat says so): until then a joining worker's chats are still read elsewhere.
            async with asyncio.timeout(within):
                while True:
                    for worker_id, proc in self.procs.items():
                        assert proc.poll() is None, self.log_of(worker_id)
                    if set(await members.live()) == wanted:
                        views = [await members.info(w) for w in wanted]
                        if all(_settled(v, wanted) for v in views):
                            break
                    await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    # --- talking through the fake ------------------------------------------------------

    async def group(self, user: int, group: int, text: str) -> dict[str, Any]:
        return await self.fake.group(user, text, group_id=group)

    async def private(self, user: int, text: str) -> dict[str, Any]:
        return await self.fake.private(user, text)

    async def reply(self, within: float = 10.0) -> Sent:
        return await self.fake.next_sent(within=within)

    async def replies(self, count: int, within: float = 10.0) -> list[Sent]:
        return [await self.reply(within) for _ in range(count)]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(
    own_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cluster]:
    from waiter_sdk.adapters.onebot11 import OneBot11Adapter
    from waiter_sdk.cluster.ingress import Ingress
    from waiter_sdk.config import OneBot11Settings, Settings

    data = tmp_path_factory.mktemp("cluster")
    rig = Cluster(own_redis, data)
    for worker_id in WORKERS:
        rig.start_worker(worker_id)
    env = _env(own_redis, None, data)
    saved = {k: os.environ.get(k) for k in env if k.startswith("WAITER_")}
    os.environ.update({k: v for k, v in env.items() if k.startswith("WAITER_")})
    try:
        settings = Settings.load()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    adapter = OneBot11Adapter(
        OneBot11Settings(port=0, modes=["reverse_ws"], access_token=TOKEN, action_timeout=5.0)
    )
    rig.adapter = adapter
    # The ingress's own log, beside the workers', for reading after a failure.
    logger.enable("waiter_sdk")
    sink = logger.add(str(data / "ingress.log"), level="DEBUG")
    try:
        await rig.wait_live(set(WORKERS))
        async with Ingress(settings, adapters=[adapter]) as ingress:
            rig.ingress = ingress
            assert adapter.server is not None
            await rig.fake.connect_reverse(
                adapter.server.url("ws", adapter.settings.path), role="Universal", auth="bearer"
            )
            await adapter.wait_bot(timeout=5)
            yield rig
    finally:
        rig.stop_all()
        with contextlib.suppress(Exception):
            await rig.fake.close()
        logger.remove(sink)


def _shard_worker(chat: str, live: list[str]) -> str:
    from waiter_sdk.cluster.delivery import assigned_shards, shard_for
    from waiter_sdk.cluster.layout import chat_key

    group, user = (chat[1:], None) if chat.startswith("g") else (None, chat[1:])
    shard = shard_for(chat_key("onebot11", str(SELF_ID), group, user), SHARDS)
    for index, worker_id in enumerate(live):
        if shard in assigned_shards(index, len(live), SHARDS):
            return worker_id
    raise AssertionError(f"no worker reads shard {shard}")


def _groups_on(worker_id: str, live: list[str], count: int, start: int = 5000) -> list[int]:
    found = []
    group = start
    while len(found) < count:
        if _shard_worker(f"g{group}", live) == worker_id:
            found.append(group)
        group += 1
    return found


# --- scenarios, in order ------------------------------------------------------------------


async def test_unowned_chats_spread_over_the_workers(cluster: Cluster) -> None:
    live = sorted(WORKERS)
    for worker_id in WORKERS:
        group = _groups_on(worker_id, live, 1)[0]
        await cluster.group(ALICE, group, "/where")
        sent = await cluster.reply()
        assert (sent.target, sent.text) == (group, f"{worker_id} here")


async def test_a_session_follows_its_sender_to_the_worker_that_opened_it(cluster: Cluster) -> None:
    live = sorted(WORKERS)
    group = _groups_on("w2", live, 1)[0]
    await cluster.group(ALICE, group, "/cecho")
    assert (await cluster.reply()).text == "w2 echo on"
    for word in ("one", "two", "three"):
        await cluster.group(ALICE, group, word)
        assert (await cluster.reply()).text == f"w2 echo: {word}"
    await cluster.group(BOB, group, "/where")  # Bob is not in Alice's session
    assert (await cluster.reply()).text == "w2 here"
    await cluster.group(ALICE, group, "q")
    assert (await cluster.reply()).text == "w2 echo off"


async def test_a_cross_chat_session_takes_messages_that_arrive_for_other_workers(
    cluster: Cluster,
) -> None:
    live = sorted(WORKERS)
    home = _groups_on("w1", live, 1)[0]
    elsewhere = _groups_on("w3", live, 1)[0]
    assert _shard_worker(f"p{CAROL}", live) != "w1" or True  # private chat: wherever it lands
    await cluster.group(CAROL, home, "/relay")
    # The relay session sends nothing on opening; wait until it holds Carol in Redis.
    await _until_owned(cluster, f"user|onebot11|{SELF_ID}||{CAROL}", "w1")
    await cluster.group(CAROL, elsewhere, "from afar")
    sent = await cluster.reply()
    assert (sent.target, sent.text) == (elsewhere, f"w1 relay from g{elsewhere}: from afar")
    await cluster.private(CAROL, "in private")
    assert (await cluster.reply()).text == "w1 relay from private: in private"
    await cluster.group(CAROL, elsewhere, "q")
    assert (await cluster.reply()).text == "w1 relay off"


async def _until_owned(cluster: Cluster, key: str, owner: str | None, within: float = 10) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(cluster.redis.url(0), decode_responses=True)
    try:
        async with asyncio.timeout(within):
            while await client.get(f"waiter:own:{key}") != owner:
                await asyncio.sleep(0.02)
    finally:
        await client.aclose()


async def test_a_conflict_raced_from_two_workers_opens_one_session(cluster: Cluster) -> None:
    live = sorted(WORKERS)
    first, second = _groups_on("w1", live, 1)[0], _groups_on("w2", live, 1)[0]
    # Both /relay commands of one user, in two chats read by two workers, sent together.
    await asyncio.gather(
        cluster.group(ALICE, first, "/relay"), cluster.group(ALICE, second, "/relay")
    )
    sent = await cluster.reply()
    assert " busy: " in sent.text, sent.text
    loser = sent.text.split()[0]
    winner = "w2" if loser == "w1" else "w1"
    assert "already held" in sent.text and winner in sent.text
    await cluster.fake.expect_silence()
    await cluster.group(ALICE, first, "q")
    assert (await cluster.reply()).text == f"{winner} relay off"


async def test_login_across_workers(cluster: Cluster) -> None:
    live = sorted(WORKERS)
    group = _groups_on("w3", live, 1)[0]
    await cluster.group(BOB, group, "/login")
    sent = await cluster.replies(2)
    texts = {(s.message_type, s.text) for s in sent}
    assert ("group", "user2002, I've sent you a private message to log in.") in texts
    assert ("private", "Login: your username? (cancel to stop)") in texts
    await cluster.private(BOB, "bob")
    assert (await cluster.reply()).text == "Password?"
    await cluster.private(BOB, "builder")
    assert (await cluster.reply()).text == "✓ Welcome, bob! You are logged in."


async def test_idiom_chain_played_by_three_members(cluster: Cluster) -> None:
    group = 7777
    await cluster.group(ALICE, group, "/idiom-chain 一心一意")
    assert (await cluster.reply()).text.startswith("成语接龙! Anyone here may answer.")
    await cluster.group(BOB, group, "意气风发")
    assert (await cluster.reply()).text == "✓ user2002 +1 (1 in all). Next starts with 发."
    await cluster.group(CAROL, group, "发愤图强")
    assert (await cluster.reply()).text == "✓ user2003 +1 (1 in all). Next starts with 强."
    await cluster.group(ALICE, group, "退出")
    assert (await cluster.reply()).text.startswith("Game over")

    # The points are in the plugin's storage, which in a cluster is the cluster's Redis (no
    # WAITER_STORAGE given): every worker reads the same ranking.
    from redis.asyncio import Redis

    client = Redis.from_url(cluster.redis.url(0), decode_responses=True)
    try:
        # Written back when the handler returns, which may be just after "Game over" went out.
        async with asyncio.timeout(10):
            while "games" not in (
                record := await client.hgetall(f"waiter:channel:idiom_chain:onebot11%3Ag{group}")
            ):
                await asyncio.sleep(0.02)
    finally:
        await client.aclose()
    assert record["games"] == "1"
    assert record["totals"] == '{"2002":1,"2003":1}'
    await cluster.group(CAROL, group, "/rank")
    assert (await cluster.reply()).text.splitlines()[1:] == ["1. user2002 1", "1. user2003 1"]


async def test_fifty_thousand_messages_are_each_handled_exactly_once(cluster: Cluster) -> None:
    from redis.asyncio import Redis

    total, groups, users = 50_000, 200, 1_000
    ids: list[str] = []
    for i in range(total):
        payload = cluster.fake.message_event(
            3000 + i % users, f"/n {i}", group_id=9000 + i % groups
        )
        ids.append(str(payload["message_id"]))
        await cluster.fake.emit(payload)
    client = Redis.from_url(cluster.redis.url(0), decode_responses=True)
    try:
        async with asyncio.timeout(180):
            while await client.hlen("test:handled") < total:
                await asyncio.sleep(0.2)
        counts = await client.hgetall("test:handled")
    finally:
        await client.aclose()
    assert len(counts) == total
    assert sorted(counts) == sorted(ids)
    assert {v for v in counts.values()} == {"1"}


async def test_redis_restarted_mid_run_is_survived_without_restarting_the_bot(
    cluster: Cluster,
) -> None:
    live = sorted(WORKERS)
    group = _groups_on("w1", live, 1)[0]
    elsewhere = _groups_on("w3", live, 1)[0]
    await cluster.group(ALICE, group, "/cecho")
    assert (await cluster.reply()).text == "w1 echo on"
    key = f"sender|onebot11|{SELF_ID}|g{group}|{ALICE}"
    await _until_owned(cluster, key, "w1")

    # Redis goes away (nothing persisted: it comes back empty). A message that arrives
    # meanwhile is kept by the ingress and delivered once Redis answers again.
    cluster.redis.stop()
    await cluster.group(BOB, elsewhere, "/where")
    cluster.redis.start()
    # Which worker: the one reading that chat while the membership forms again.
    kept = await cluster.reply(within=30)
    assert (kept.target, kept.text) in {(elsewhere, f"{w} here") for w in WORKERS}

    # w1 claims Alice's session again at its next heartbeat; her conversation goes on there.
    await _until_owned(cluster, key, "w1", within=30)
    await cluster.group(ALICE, group, "still there?")
    assert (await cluster.reply()).text == "w1 echo: still there?"
    await cluster.group(ALICE, group, "q")
    assert (await cluster.reply()).text == "w1 echo off"
    await cluster.wait_live(set(WORKERS))  # every worker back in the membership

    # One clear line each for the outage and the recovery, naming the setting.
    ingress_log = (cluster.data / "ingress.log").read_text(encoding="utf-8")
    assert ingress_log.count("the cluster's Redis is unreachable") == 1, ingress_log[-4000:]
    assert "check WAITER_CLUSTER__REDIS" in ingress_log
    assert ingress_log.count("the cluster's Redis answers again") == 1
    worker_log = cluster.log_of("w1")
    assert "keeps its open sessions and retries until Redis answers again" in worker_log
    assert "answers again after" in worker_log


async def test_a_killed_worker_is_noticed_and_its_conversations_told(cluster: Cluster) -> None:
    # Which worker reads a chat follows from the membership each worker last saw: wait until
    # all agree (after the Redis restart above, or a heartbeat that came late under load).
    await cluster.wait_live(set(WORKERS))
    live = sorted(WORKERS)
    doomed_group = _groups_on("w2", live, 1)[0]
    safe_group = _groups_on("w3", live, 1)[0]
    await cluster.group(ALICE, doomed_group, "/cecho")
    assert (await cluster.reply()).text == "w2 echo on"
    await cluster.group(BOB, safe_group, "/cecho")
    assert (await cluster.reply()).text == "w3 echo on"
    # "echo on" is sent before the session opens: killed before its claim is written, w2
    # would take a session nobody knew of (and there would be nobody to tell).
    await _until_owned(cluster, f"sender|onebot11|{SELF_ID}|g{doomed_group}|{ALICE}", "w2")
    await _until_owned(cluster, f"sender|onebot11|{SELF_ID}|g{safe_group}|{BOB}", "w3")

    cluster.kill("w2")
    notice = await cluster.reply(within=15)
    assert (notice.target, notice.text) == (
        doomed_group,
        "This conversation was lost with a bot process; sorry!",
    )
    await cluster.wait_live({"w1", "w3"})
    # Bob's conversation on w3 goes on; Alice's chat is served by a live worker now.
    await cluster.group(BOB, safe_group, "still here")
    assert (await cluster.reply()).text == "w3 echo: still here"
    await cluster.group(ALICE, doomed_group, "/where")
    assert (await cluster.reply()).text in ("w1 here", "w3 here")
    await cluster.group(BOB, safe_group, "q")
    assert (await cluster.reply()).text == "w3 echo off"


async def _until(condition: Any, within: float = 15.0) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.02)
