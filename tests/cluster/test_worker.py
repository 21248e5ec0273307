"""Workers (``waiter_sdk.cluster.worker``) against a real redis-server: two or three in one
event loop, fed by writing ``event`` envelopes into their streams as the ingress would
(``worker_kit.route``), with the ingress's send role played by ``FakeIngress``.

Covered: a botoy session (parrot, login) whose messages reach its worker through ``try``; a
wrong hint forwarded to the chat's shard; a conflict raced from two workers, then taken over
with ``conflict="replace"``; a cross-chat ``UserSessionFilter`` session; the ledger refusing a
second handling; an acknowledgement held back while a handler runs; a bad payload; Redis
restarted under open sessions; a clean stop that leaves nothing of the worker behind.

Nothing waits on the clock to synchronise: every wait polls a condition (``until``), whose
bound only keeps a broken test from hanging.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field

import orjson
import pytest

from example_plugins.login import Login
from example_plugins.parrot import Parrot
from tests.cluster.conftest import make_client
from tests.cluster.worker_kit import (
    BOT,
    PLATFORM,
    FakeIngress,
    message,
    push,
    route,
    settings_for,
    shard_stream_of,
    until,
)
from tests.redis_kit import RedisServer
from waiter_sdk import (
    MessageEvent,
    Plugin,
    SessionBusyError,
    SessionClosedError,
    SessionController,
    UserSessionFilter,
    command,
    on_message,
    session_waiter,
)
from waiter_sdk.plugins.loader import PluginSpec

try:
    from redis.asyncio import Redis

    from waiter_sdk.cluster import codec
    from waiter_sdk.cluster.delivery import shard_for, worker_stream
    from waiter_sdk.cluster.layout import (
        WORKERS,
        alive_key,
        chat_key,
        id_route,
        notify_key,
        route_key,
        routes_of_key,
    )
    from waiter_sdk.cluster.worker import Worker
except ImportError:  # _needs_redis skips every test, or fails it under CI=true, saying why
    pass


# --- plugins ----------------------------------------------------------------------------------


async def _move(controller: SessionController, event: MessageEvent) -> None:
    await event.send(f"move {event.message_str}")


class Game(Plugin):
    """A session of one player wherever they are: ``/game`` opens it, ``/grab`` takes it
    over (two groups of one player are read by two workers: the conflict crosses them)."""

    name = "game"

    def __init__(self) -> None:
        self.outcomes: list[str] = []

    @command("game")
    async def game(self, event: MessageEvent) -> None:
        await self._play(event, session_waiter(timeout=60)(_move))

    @command("grab")
    async def grab(self, event: MessageEvent) -> None:
        await self._play(event, session_waiter(timeout=60, conflict="replace")(_move))

    async def _play(self, event: MessageEvent, play: object) -> None:
        try:
            await play(event, UserSessionFilter())  # type: ignore[operator]
        except SessionBusyError as exc:
            self.outcomes.append(f"busy: {exc}")
        except SessionClosedError as exc:
            self.outcomes.append(f"closed: {exc}")
        else:
            self.outcomes.append("ended")


class Name(Plugin):
    """A session of one user across chats: asked in a group, answered in private."""

    name = "name"

    def __init__(self) -> None:
        self.answers: list[tuple[str | None, str]] = []

    @command("name")
    async def ask(self, event: MessageEvent) -> None:
        @session_waiter(timeout=60)
        async def take(controller: SessionController, reply: MessageEvent) -> None:
            self.answers.append((reply.group_id, reply.message_str))
            await reply.send(f"hi {reply.message_str}")
            controller.stop()

        controller = await take.open(event, UserSessionFilter())
        await event.send("your name?")
        await controller.wait()


class Hello(Plugin):
    """``/hello`` answers: a handler that waits for its send's result."""

    name = "hello"

    @command("hello")
    async def hello(self, event: MessageEvent) -> None:
        await event.send("hi")


class Count(Plugin):
    """Records every message its handler sees; ``block`` waits for ``release``."""

    name = "count"

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    @on_message()
    async def count(self, event: MessageEvent) -> None:
        self.seen.append(event.message_id)
        if event.message_str == "block":
            self.started.set()
            await self.release.wait()


# --- the cluster ------------------------------------------------------------------------------


@dataclass
class Cluster:
    url: str
    client: Redis  # bytes, as the ingress writes
    raw: Redis  # text, to read what the workers left
    ingress: FakeIngress
    workers: list[Worker] = field(default_factory=list)

    async def start(self, worker_id: str, plugins: Sequence[PluginSpec]) -> Worker:
        worker = Worker(settings_for(self.url), plugins, worker_id=worker_id)
        await worker.start()
        self.workers.append(worker)
        return worker

    async def split(self) -> None:
        """Wait until the workers share the shards between them."""
        count = len(self.workers)
        await until(
            lambda: all(len(w.shard_streams) == 4 // count for w in self.workers), "shards split"
        )

    async def pending(self, stream: str) -> int:
        try:
            return int((await self.raw.xpending(stream, "workers"))["pending"])
        except Exception:  # no stream or group yet
            return 0

    async def own_keys(self) -> dict[str, str]:
        keys = sorted(await self.raw.keys("waiter:own:*"))
        values = await self.raw.mget(keys) if keys else []
        return dict(zip(keys, values, strict=True))


@pytest.fixture
async def cluster(redis_server: RedisServer) -> AsyncIterator[Cluster]:
    url = redis_server.url()
    clients = [make_client(url), make_client(url, decode_responses=True), make_client(url)]
    ingress = FakeIngress(clients[2])
    task = asyncio.get_running_loop().create_task(ingress.run())
    env = Cluster(url, clients[0], clients[1], ingress)
    try:
        yield env
    finally:
        for worker in env.workers:
            await worker.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for client in clients:
            await client.aclose()


def _route_of(id_: str) -> str:
    return route_key(id_route(PLATFORM, BOT, id_))


def _group_read_by(worker: Worker, start: int = 1) -> str:
    """A group id whose unowned messages go to a shard ``worker`` reads."""
    for n in range(start, 200):
        group = f"g{n}"
        shard = shard_for(chat_key(PLATFORM, BOT, group, None), 4)
        if f"waiter:in:any:{shard}" in worker.shard_streams:
            return group
    raise AssertionError("no group for that worker")


# --- sessions across workers ------------------------------------------------------------------


async def test_a_parrot_session_gets_its_messages_through_try_from_another_worker(
    cluster: Cluster,
) -> None:
    w1 = await cluster.start("w1", [Parrot()])
    w2 = await cluster.start("w2", [Parrot()])
    await cluster.split()
    await route(cluster.client, message("/parrot", "u1", "g1"))
    await until(lambda: any("Parrot on" in t for t in cluster.ingress.texts()), "parrot on")
    owner = cluster.ingress.sent[0].worker
    other = ({"w1", "w2"} - {owner}).pop()
    # The prompt went out only once the claim was visible: the route already names the owner.
    assert await cluster.raw.hgetall(_route_of("u1")) == {owner: "1"}
    assert list((await cluster.own_keys()).values()) == [owner]
    keys = [k.removeprefix("waiter:own:") for k in await cluster.own_keys()]
    assert await cluster.raw.hkeys(notify_key(owner)) == keys  # whom to tell if it dies

    # The message reached the other worker first, with the owner to try next.
    await push(cluster.client, worker_stream(other), message("hello", "u1", "g1"), [owner])
    await until(lambda: "hello" in cluster.ingress.texts(owner), "hello repeated by the owner")
    # And in private (botoy's member scope takes them), routed as the ingress would.
    await route(cluster.client, message("psst", "u1"))
    await until(lambda: "psst" in cluster.ingress.texts(owner), "private message repeated")
    assert "hello" not in cluster.ingress.texts(other)

    await route(cluster.client, message("q", "u1", "g1"))
    await until(lambda: "🦜 Bye!" in cluster.ingress.texts(owner), "bye")
    await until(lambda: _equals(cluster.raw.exists(_route_of("u1")), 0), "route released")
    assert await cluster.own_keys() == {}
    assert await cluster.raw.hkeys(notify_key(owner)) == []
    for stream in (worker_stream(other), worker_stream(owner)):
        await until(lambda s=stream: _equals(cluster.pending(s), 0), f"{stream} acked")
    assert (w1 if owner == "w1" else w2).registry.ended_counts == {"stopped": 1}


async def _equals(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def test_login_asked_in_a_group_is_answered_in_private_on_its_worker(
    cluster: Cluster,
) -> None:
    plugins = {"w1": Login(), "w2": Login()}
    await cluster.start("w1", [plugins["w1"]])
    await cluster.start("w2", [plugins["w2"]])
    await cluster.split()
    await route(cluster.client, message("/login", "u2", "g3"))
    await until(lambda: any("username" in t for t in cluster.ingress.texts()), "asked")
    owner = next(s.worker for s in cluster.ingress.sent if "username" in s.text)
    asked = next(s for s in cluster.ingress.sent if "username" in s.text)
    assert (asked.group_id, asked.user_id) == (None, "u2")  # in private

    await route(cluster.client, message("alice", "u2"))
    await until(lambda: any("Password" in t for t in cluster.ingress.texts(owner)), "password?")
    await route(cluster.client, message("wonderland", "u2"))
    await until(lambda: any("Welcome, alice" in t for t in cluster.ingress.texts()), "welcome")
    assert plugins[owner].logged_in == {"u2": "alice"}
    assert all(s.worker == owner for s in cluster.ingress.sent)


async def test_a_wrong_hint_is_forwarded_to_the_chat_shard(cluster: Cluster) -> None:
    counts = {"w1": Count(), "w2": Count()}
    w1 = await cluster.start("w1", [Parrot(), counts["w1"]])
    await cluster.start("w2", [Parrot(), counts["w2"]])
    await cluster.split()
    group = _group_read_by(w1)
    await route(cluster.client, message("/parrot", "u1", group))
    await until(lambda: any("Parrot on" in t for t in cluster.ingress.texts()), "parrot on")
    owner = cluster.ingress.sent[0].worker

    # u1 speaks in another group: the sender's route points at the owner, but its session
    # (u1 in that first group) does not take it. It goes on to that chat's shard.
    elsewhere = message("in another chat", "u1", "g77", message_id="wrong-hint")
    await push(cluster.client, worker_stream(owner), elsewhere)
    await until(
        lambda: sum(c.seen.count("wrong-hint") for c in counts.values()) == 1, "handled once"
    )
    entries = await cluster.client.xrange(shard_stream_of(elsewhere))
    forwarded = [codec.decode(fields[b"payload"]) for _, fields in entries]
    assert [(e["ev"]["message_id"], e["hops"]) for e in forwarded] == [("wrong-hint", 1)]
    assert "in another chat" not in cluster.ingress.texts()  # not parroted


async def test_a_forward_to_a_worker_gone_since_goes_to_the_chat_shard(cluster: Cluster) -> None:
    counts = {"w1": Count(), "w2": Count()}
    await cluster.start("w1", [Parrot(), counts["w1"]])
    await cluster.start("w2", [Parrot(), counts["w2"]])
    await cluster.split()
    # The ingress's hint named w1 then w9, which died (and was handed over) since: w1 does
    # not take the event, and must not recreate w9's deleted stream, which nobody reads.
    late = message("for a session on w9", "u1", "g78", message_id="late-try")
    await push(cluster.client, worker_stream("w1"), late, tries=["w9"])
    await until(lambda: sum(c.seen.count("late-try") for c in counts.values()) == 1, "handled")
    assert not await cluster.client.exists(worker_stream("w9"))
    entries = await cluster.client.xrange(shard_stream_of(late))
    forwarded = [codec.decode(fields[b"payload"]) for _, fields in entries]
    assert [(e["ev"]["message_id"], e["hops"], e["try"]) for e in forwarded] == [
        ("late-try", 1, [])
    ]


async def test_a_conflict_raced_from_two_workers_has_one_winner_and_replace_takes_over(
    cluster: Cluster,
) -> None:
    games = {"w1": Game(), "w2": Game()}
    w1 = await cluster.start("w1", [games["w1"]])
    w2 = await cluster.start("w2", [games["w2"]])
    await cluster.split()
    groups = {"w1": _group_read_by(w1), "w2": _group_read_by(w2)}
    # One player starts a game in two groups at once; each group's shard is another worker's.
    pipe = cluster.client.pipeline(transaction=False)
    for group in groups.values():
        event = message("/game", "u1", group)
        payload = codec.encode_event(event, ledger_key=codec.ledger_key(event))
        pipe.xadd(shard_stream_of(event), {"payload": payload})
    await pipe.execute()
    await until(lambda: any(g.outcomes for g in games.values()), "one opener refused")
    loser = next(w for w, g in games.items() if g.outcomes)
    winner = ({"w1", "w2"} - {loser}).pop()
    assert games[loser].outcomes == [f"busy: {games[loser].outcomes[0][6:]}"]
    assert f"worker {winner}" in games[loser].outcomes[0]
    assert list((await cluster.own_keys()).values()) == [winner]
    await until(
        lambda: _equals(cluster.raw.hgetall(_route_of("u1")), {winner: "1"}), "winner's route"
    )

    # In the loser's group (its shard, before any route is looked up), with replace.
    grab = message("/grab", "u1", groups[loser])
    await push(cluster.client, shard_stream_of(grab), grab)
    await until(lambda: games[winner].outcomes != [], "the winner's session ended")
    assert games[winner].outcomes == [f"closed: session user|{PLATFORM}|{BOT}||u1 was replaced"]
    assert list((await cluster.own_keys()).values()) == [loser]
    await until(
        lambda: _equals(cluster.raw.hgetall(_route_of("u1")), {loser: "1"}), "loser's route"
    )
    # The player's next move, routed as the ingress would, reaches the new owner's session.
    await route(cluster.client, message("e4", "u1", groups[winner]))
    await until(lambda: "move e4" in cluster.ingress.texts(loser), "move")


async def test_a_worker_handed_over_while_alive_ends_its_sessions_and_goes_on(
    cluster: Cluster,
) -> None:
    game = Game()
    w1 = await cluster.start("w1", [game, Hello()])
    await route(cluster.client, message("/game", "u1", "g1"))
    await until(
        lambda: _equals(cluster.own_keys(), {f"waiter:own:user|{PLATFORM}|{BOT}||u1": "w1"}),
        "claimed",
    )

    # Its heartbeat came too late: the ingress told u1 the game was lost and released it
    # (what Handover does), leaving the tombstone the late worker reads at its next beat.
    await cluster.raw.delete(f"waiter:own:user|{PLATFORM}|{BOT}||u1")
    await cluster.raw.set("waiter:gone:w1", "ingress-1")
    await until(lambda: game.outcomes != [], "the game ended")
    assert game.outcomes == [f"closed: session user|{PLATFORM}|{BOT}||u1 was replaced"]
    assert not await cluster.raw.exists("waiter:gone:w1")  # read once
    # Not claimed again (as it would be after a Redis restart); the worker goes on.
    await until(lambda: _equals(cluster.own_keys(), {}), "nothing owned")
    assert w1.registry.get(f"user|{PLATFORM}|{BOT}||u1") is None
    await route(cluster.client, message("/hello", "u2", "g2"))
    await until(lambda: "hi" in cluster.ingress.texts("w1"), "still answering")


async def test_a_user_session_opened_in_a_group_takes_the_users_private_answer(
    cluster: Cluster,
) -> None:
    names = {w: Name() for w in ("w1", "w2", "w3")}
    for worker, plugin in names.items():
        await cluster.start(worker, [plugin])
    await route(cluster.client, message("/name", "u3", "g4"))
    await until(lambda: "your name?" in cluster.ingress.texts(), "asked")
    owner = cluster.ingress.sent[0].worker
    others = sorted({"w1", "w2", "w3"} - {owner})
    # The answer comes in private, first to a worker that holds nothing of it.
    await push(cluster.client, worker_stream(others[0]), message("Zoe", "u3"), [others[1], owner])
    await until(lambda: "hi Zoe" in cluster.ingress.texts(owner), "answered")
    assert names[owner].answers == [(None, "Zoe")]
    assert all(not names[w].answers for w in others)


# --- delivery ---------------------------------------------------------------------------------


async def test_the_ledger_stops_a_second_handling_of_the_same_message(
    cluster: Cluster, logs: list[str]
) -> None:
    count = Count()
    await cluster.start("w1", [count])
    first = message("hi", "u5", "g5", message_id="dup")
    again = message("hi", "u5", "g5", message_id="dup")  # the ingress sent it twice
    after = message("next", "u5", "g5", message_id="after")
    stream = shard_stream_of(first)
    await push(cluster.client, stream, first)
    await until(
        lambda: _equals(cluster.raw.get("waiter:seen:onebot11|10001|dup"), "done"), "handled"
    )
    for event in (again, after):
        await push(cluster.client, stream, event)
    await until(lambda: "after" in count.seen, "the next message handled")
    await until(lambda: _equals(cluster.pending(stream), 0), "all acked")
    assert count.seen == ["dup", "after"]
    assert _any_line(logs, "DEBUG", "message onebot11|10001|dup was handled already")


async def test_a_message_is_acked_only_once_its_handler_finished(cluster: Cluster) -> None:
    count = Count()
    await cluster.start("w1", [count])
    blocked = message("block", "u6", "g6", message_id="slow")
    stream = shard_stream_of(blocked)
    await push(cluster.client, stream, blocked)
    await until(count.started.is_set, "handler running")
    assert await cluster.pending(stream) == 1
    assert await cluster.raw.get("waiter:seen:onebot11|10001|slow") == "begun"
    count.release.set()
    await until(lambda: _equals(cluster.pending(stream), 0), "acked after the handler")
    assert await cluster.raw.get("waiter:seen:onebot11|10001|slow") == "done"


async def test_a_session_opener_is_acked_when_its_session_opens_not_when_it_ends(
    cluster: Cluster,
) -> None:
    game = Game()
    await cluster.start("w1", [game])
    opener = message("/game", "u7", "g7", message_id="opener")
    stream = shard_stream_of(opener)
    await push(cluster.client, stream, opener)
    await until(lambda: _equals(cluster.raw.exists(_route_of("u7")), 1), "session open")
    # The handler still waits in its session, but its message is handled: a pending entry
    # that old would be taken over as a dead worker's and hold back trimming.
    await until(lambda: _equals(cluster.pending(stream), 0), "opener acked")
    assert await cluster.raw.get("waiter:seen:onebot11|10001|opener") == "done"
    assert game.outcomes == []


async def test_the_read_loop_waits_while_too_many_events_are_in_flight(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from waiter_sdk.cluster import worker as worker_module

    monkeypatch.setattr(worker_module, "MAX_IN_FLIGHT", 2)
    count = Count()
    await cluster.start("w1", [count])
    blocked = [message("block", f"u{n}", "g8", message_id=f"b{n}") for n in range(5)]
    stream = shard_stream_of(blocked[0])
    for event in blocked:
        await push(cluster.client, stream, event)
    await until(lambda: len(count.seen) == 2, "two handlers running")
    # The bound holds: the others wait in Redis, unread, not in this process.
    info = await cluster.raw.xinfo_groups(stream)
    assert [g["lag"] for g in info if g["name"] == "workers"] == [3]
    count.release.set()
    await until(lambda: len(count.seen) == 5, "the rest read once there is room")
    await until(lambda: _equals(cluster.pending(stream), 0), "all acked")


async def test_handlers_at_the_read_bound_still_hear_their_send_results(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from waiter_sdk.cluster import worker as worker_module

    # Every handler in flight waits for its send's result: if results came in with the
    # events, the bound would stop the very reads that free it.
    monkeypatch.setattr(worker_module, "MAX_IN_FLIGHT", 2)
    await cluster.start("w1", [Hello()])
    hellos = [message("/hello", f"u{n}", "g9", message_id=f"h{n}") for n in range(6)]
    stream = shard_stream_of(hellos[0])
    for event in hellos:
        await push(cluster.client, stream, event)
    await until(lambda: len(cluster.ingress.texts()) == 6, "six greetings sent")
    await until(lambda: _equals(cluster.pending(stream), 0), "all acked")


async def test_a_bad_payload_is_logged_and_acked(cluster: Cluster, logs: list[str]) -> None:
    count = Count()
    await cluster.start("w1", [count])
    stream = worker_stream("w1")
    bad = await cluster.client.xadd(stream, {"payload": b"\xffnot json"})
    odd = await cluster.client.xadd(stream, {"payload": b'{"t":"event","ev":{"kind":"x"}}'})
    await push(cluster.client, stream, message("fine", "u7", "g7", message_id="fine"), [])
    await until(lambda: _equals(cluster.pending(stream), 0), "all acked")
    for entry in (bad, odd):
        assert any(line.startswith("WARNING") and entry.decode() in line for line in logs), entry
    # The good one behind them was forwarded to its chat's shard (no session here) and handled.
    await until(lambda: "fine" in count.seen, "the good one handled")


# --- failures and the end ---------------------------------------------------------------------


async def test_redis_restarted_under_open_sessions(
    cluster: Cluster, redis_server: RedisServer, logs: list[str]
) -> None:
    w1 = await cluster.start("w1", [Parrot()])
    w2 = await cluster.start("w2", [Parrot()])
    await cluster.split()
    groups = {"w1": _group_read_by(w1), "w2": _group_read_by(w2)}
    for worker, user in (("w1", "u1"), ("w2", "u2")):
        await route(cluster.client, message("/parrot", user, groups[worker]))
    await until(lambda: len(cluster.ingress.texts()) == 2, "both parrots on")
    before = await cluster.own_keys()
    assert sorted(before.values()) == ["w1", "w2"]

    await asyncio.to_thread(redis_server.restart)  # empty: no persistence

    await until(lambda: _equals(cluster.own_keys(), before), "keys claimed again")
    for worker, user in (("w1", "u1"), ("w2", "u2")):
        await until(
            lambda u=user, w=worker: _equals(cluster.raw.hgetall(_route_of(u)), {w: "1"}),
            f"route of {user}",
        )
        await until(lambda w=worker: _any_line(logs, "INFO", f"worker {w}: the cluster"), "back")
        errors = [line for line in logs if line.startswith(f"ERROR worker {worker}:")]
        assert len(errors) == 1, errors
        assert "WAITER_CLUSTER__REDIS=redis://127.0.0.1:" in errors[0]
    # The conversations go on.
    await until(cluster.client.ping, "the test's own client reconnected")
    await route(cluster.client, message("still here", "u1", groups["w1"]))
    await until(lambda: "still here" in cluster.ingress.texts("w1"), "parrot after restart")


def _any_line(logs: list[str], level: str, text: str) -> bool:
    return any(line.startswith(level) and text in line for line in logs)


async def test_a_clean_stop_leaves_nothing_of_the_worker_in_redis(cluster: Cluster) -> None:
    game = Game()
    w1 = await cluster.start("w1", [Parrot(), game])
    opening = [message("/parrot", "u1", "g1"), message("/game", "u2", "g2")]
    for event in opening:
        await route(cluster.client, event)
    await until(lambda: len(cluster.ingress.texts()) == 1, "parrot on")
    await until(lambda: _equals(cluster.raw.exists(_route_of("u2")), 1), "game open")
    assert len(await cluster.own_keys()) == 2

    await w1.stop()
    assert game.outcomes == ["closed: session user|onebot11|10001||u2 was shutdown"]
    assert await cluster.own_keys() == {}
    for key in (routes_of_key("w1"), notify_key("w1"), alive_key("w1")):
        assert await cluster.raw.exists(key) == 0, key
    # Listed as left, for the ingress to hand over what may remain in its stream and unlist it.
    assert orjson.loads(await cluster.raw.hget(WORKERS, "w1")) == {"left": True}
    assert await cluster.raw.keys("waiter:at:*") == []
    # What it handled was acknowledged, the session openers included.
    for event in opening:
        assert await cluster.pending(shard_stream_of(event)) == 0


def test_storage_defaults_to_the_cluster_redis_unless_set() -> None:
    url = "redis://127.0.0.1:1/5"
    assert Worker(settings_for(url).model_copy(update={}), ()).settings.storage == "memory"
    from waiter_sdk.config import Settings

    unset = Settings(cluster={"redis": url, "heartbeat": 0.1, "dead_after": 0.6})
    assert Worker(unset, ()).settings.storage == url
