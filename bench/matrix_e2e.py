"""End-to-end figure for the Matrix adapter through a real Synapse: a person's message goes to
the homeserver, the bot's /sync brings it, a session waiter answers, the answer goes back to
the homeserver, and the person's own /sync brings it to them.

Usage::

    .venv/bin/python bench/matrix_e2e.py                  # about a minute on the 2-core machine
    .venv/bin/python bench/matrix_e2e.py --users 8 --messages 40 --rounds 1

Synapse (``matrix-synapse`` from the test extra) runs on loopback with SQLite, as in the tests.
Each simulated person has a room with the bot and talks in lockstep: the next message goes out
when the answer to the previous one arrived, all people at once. The people run in a child
process (raw aiohttp: a send and a long-poll /sync each), so this process is the bot alone.
The same people, in the same run, also talk to a bare baseline: an aiohttp loop of a few
lines that long-polls /sync with the same filter and PUTs the same answer for each message,
with no SDK at all. CPU seconds are counted for the bot side (this process), Synapse (its
/proc entry) and the people (the child), so the figures say who the bottleneck is.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.echo_plugin import Echo  # noqa: E402  (the session every end-to-end bench runs)
from tests.matrix.synapse_kit import Account, Synapse  # noqa: E402  (the server kit of the tests)
from waiter_sdk import App  # noqa: E402
from waiter_sdk.adapters.matrix import MatrixAdapter, MatrixSettings  # noqa: E402
from waiter_sdk.config import Settings  # noqa: E402

FILTER = orjson.dumps(
    {
        "presence": {"types": []},
        "account_data": {"types": []},
        "room": {"timeline": {"limit": 100}, "ephemeral": {"types": []}},
    }
).decode()


def first_filter() -> str:
    """The filter of a first /sync, unique: Synapse answers a repeated request (same token,
    filter, no position) from a two-minute cache, which would hand a later run an old
    position (the adapter does the same, see ``_first_filter``)."""
    fresh = {"room": {"timeline": {"limit": 1, "not_types": [uuid.uuid4().hex]}}}
    return orjson.dumps({**orjson.loads(FILTER), **fresh}).decode()


@dataclass
class Result:
    name: str
    messages: int
    seconds: float
    latencies: list[float]
    cpu_bot: float
    cpu_synapse: float
    cpu_people: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the people (child process) ----------------------------------------------------------------


async def person(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    room: str,
    bot: str,
    messages: int,
    opener: str | None,
) -> list[float]:
    headers = {"Authorization": f"Bearer {token}"}
    loop = asyncio.get_running_loop()
    async with session.get(
        f"{url}/_matrix/client/v3/sync",
        params={"timeout": "0", "filter": first_filter()},
        headers=headers,
    ) as answer:
        since = (await answer.json())["next_batch"]

    async def say(text: str) -> None:
        txn = uuid.uuid4().hex
        async with session.put(
            f"{url}/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}",
            json={"msgtype": "m.text", "body": text},
            headers=headers,
        ) as answer:
            answer.raise_for_status()

    async def answer_to() -> str:
        nonlocal since
        while True:
            async with session.get(
                f"{url}/_matrix/client/v3/sync",
                params={"timeout": "30000", "since": since, "filter": FILTER},
                headers=headers,
            ) as answer:
                body = await answer.json()
            since = body["next_batch"]
            timeline = body.get("rooms", {}).get("join", {}).get(room, {}).get("timeline", {})
            for event in timeline.get("events", []):
                if event.get("type") == "m.room.message" and event.get("sender") == bot:
                    return str(event["content"]["body"])

    if opener is not None:
        await say(opener)
        await answer_to()
    times = []
    for n in range(messages):
        started = loop.time()
        await say(f"m{n}")
        text = await answer_to()
        assert text == f"m{n}", text
        times.append(loop.time() - started)
    if opener is not None:
        await say("q")
    return times


async def people(
    url: str, accounts: list[tuple[str, str]], bot: str, messages: int, opener: str | None
) -> tuple[float, list[float], float]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        cpu = time.process_time()
        started = time.perf_counter()
        per_person = await asyncio.gather(
            *(person(session, url, token, room, bot, messages, opener) for token, room in accounts)
        )
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    return elapsed, [t for times in per_person for t in times], cpu


def child(url: str, accounts: Any, bot: str, messages: int, opener: str | None, out: Any) -> None:
    try:
        out.put(asyncio.run(people(url, accounts, bot, messages, opener)))
    except BaseException as exc:  # the parent waits on the queue: tell it, do not hang it
        out.put(exc)
        raise


async def in_child(
    url: str, accounts: list[tuple[str, str]], bot: str, messages: int, opener: str | None
) -> tuple[float, list[float], float]:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(target=child, args=(url, accounts, bot, messages, opener, out))
    process.start()
    try:
        answer = await asyncio.to_thread(out.get, True, 600)
        if isinstance(answer, BaseException):
            raise RuntimeError(f"the people failed: {answer!r}") from answer
        return answer  # type: ignore[no-any-return]
    finally:
        await asyncio.to_thread(process.join, 10)


# --- the two bots --------------------------------------------------------------------------------


async def run_sdk(
    server: Synapse, bot: Account, accounts: list[tuple[str, str]], messages: int, storage: str
) -> Result:
    settings = MatrixSettings(
        homeserver=server.url, access_token=bot.access_token, user_id=bot.user_id
    )
    adapter = MatrixAdapter(settings)
    async with App(settings=Settings(storage=storage), plugins=[Echo], adapters=[adapter]):
        await adapter.wait_synced(30)
        assert server.pid is not None
        cpu, synapse_cpu = time.process_time(), cpu_of(server.pid)
        elapsed, latencies, people_cpu = await in_child(
            server.url, accounts, bot.user_id, messages, opener="/echo"
        )
        cpu, synapse_cpu = time.process_time() - cpu, cpu_of(server.pid) - synapse_cpu
    return Result(
        "waiter-sdk", len(accounts) * messages, elapsed, latencies, cpu, synapse_cpu, people_cpu
    )


async def run_bare(
    server: Synapse, bot: Account, accounts: list[tuple[str, str]], messages: int
) -> Result:
    """The floor: the same /sync and PUT round trips, by a bot of a dozen lines and no SDK."""
    headers = {"Authorization": f"Bearer {bot.access_token}"}
    # Transaction ids unique across runs: a homeserver answers a repeated one with the old
    # event and posts nothing.
    run, txns = uuid.uuid4().hex, itertools.count()
    tasks: set[asyncio.Task[Any]] = set()

    async def send(session: aiohttp.ClientSession, room: str, text: str) -> None:
        async with session.put(
            f"{server.url}/_matrix/client/v3/rooms/{room}/send/m.room.message/{run}-{next(txns)}",
            json={"msgtype": "m.text", "body": text},
            headers=headers,
        ) as answer:
            answer.raise_for_status()

    async def loop_forever(session: aiohttp.ClientSession, ready: asyncio.Event) -> None:
        async with session.get(
            f"{server.url}/_matrix/client/v3/sync",
            params={"timeout": "0", "filter": first_filter()},
            headers=headers,
        ) as answer:
            since = (await answer.json())["next_batch"]
        ready.set()
        while True:
            async with session.get(
                f"{server.url}/_matrix/client/v3/sync",
                params={"timeout": "30000", "since": since, "filter": FILTER},
                headers=headers,
            ) as answer:
                body = orjson.loads(await answer.read())
            since = body["next_batch"]
            for room, entry in body.get("rooms", {}).get("join", {}).items():
                for event in entry.get("timeline", {}).get("events", []):
                    if event.get("type") == "m.room.message" and event.get("sender") != bot.user_id:
                        task = asyncio.create_task(send(session, room, event["content"]["body"]))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        ready = asyncio.Event()
        syncing = asyncio.create_task(loop_forever(session, ready))
        try:
            await ready.wait()
            assert server.pid is not None
            cpu, synapse_cpu = time.process_time(), cpu_of(server.pid)
            elapsed, latencies, people_cpu = await in_child(
                server.url, accounts, bot.user_id, messages, opener=None
            )
            cpu, synapse_cpu = time.process_time() - cpu, cpu_of(server.pid) - synapse_cpu
        finally:
            syncing.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(syncing, *tasks, return_exceptions=True)
    return Result(
        "bare aiohttp", len(accounts) * messages, elapsed, latencies, cpu, synapse_cpu, people_cpu
    )


def setup(server: Synapse, users: int) -> tuple[Account, list[tuple[str, str]]]:
    """The bot and ``users`` people, each in a room of their own with the bot."""
    bot = server.register("benchbot")
    accounts = []
    for n in range(users):
        human = server.register(f"person{n}")
        room = server.request(
            "POST",
            "/_matrix/client/v3/createRoom",
            {"preset": "private_chat", "invite": [bot.user_id]},
            token=human.access_token,
        )["room_id"]
        server.request("POST", f"/_matrix/client/v3/rooms/{room}/join", {}, token=bot.access_token)
        accounts.append((human.access_token, room))
    return bot, accounts


def show(result: Result) -> None:
    print(
        f"{result.name:>13}: {result.rate:7.1f} msg/s  p50 {result.percentile(0.5):6.1f} ms  "
        f"p95 {result.percentile(0.95):6.1f} ms  CPU s: bot {result.cpu_bot:5.2f}  "
        f"Synapse {result.cpu_synapse:5.2f}  people {result.cpu_people:5.2f}  "
        f"(bot {result.cpu_bot / result.messages * 1e6:5.0f} µs/msg, "
        f"Synapse {result.cpu_synapse / result.messages * 1e6:5.0f} µs/msg)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server = Synapse(Path(folder))
        server.write_config()
        server.start()
        print(f"Synapse started in {server.started_in:.1f} s (pid {server.pid})")
        try:
            bot, accounts = setup(server, args.users)
            results: dict[str, list[Result]] = {"waiter-sdk": [], "bare aiohttp": []}
            for _ in range(args.rounds):
                for result in (
                    await run_sdk(
                        server, bot, accounts, args.messages, f"sqlite:///{folder}/bot.db"
                    ),
                    await run_bare(server, bot, accounts, args.messages),
                ):
                    show(result)
                    results[result.name].append(result)
            sdk = statistics.median(r.rate for r in results["waiter-sdk"])
            bare = statistics.median(r.rate for r in results["bare aiohttp"])
            print(f"median: waiter-sdk {sdk:.1f} msg/s, bare {bare:.1f} msg/s ({sdk / bare:.0%})")
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main())
