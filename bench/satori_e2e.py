"""End-to-end loopback figures for the Satori adapter: events per second from a Satori server,
over the event WebSocket, through the adapter into a session waiter, and the waiter's reply back
to the server as ``message.create`` (HTTP POST, answered).

Usage::

    .venv/bin/python bench/satori_e2e.py                  # both sources; about a minute
    .venv/bin/python bench/satori_e2e.py --source minimal --users 20 --messages 50 --rounds 1

Two event sources, each in child processes of its own so the bot side has its event loop (and,
as far as two cores allow, a core) to itself:

* ``real``: the real satori-python server (``tests/satori_adapter/peer.py``). Users are driven
  through its control API: each message is an HTTP request that makes the server post an event,
  and replies are read back from its record of ``message.create`` calls. The server's own
  per-request cost (uvicorn, starlette, its event dump) is in every round trip.
* ``minimal``: a small aiohttp server that speaks the protocol (IDENTIFY/READY, PING/PONG,
  EVENT frames, ``message.create``) and drives the users itself, at a fraction of that cost:
  the figure that shows what the bot side can take.

Against each, in the same run, a bare baseline: an aiohttp client of a few dozen lines that
identifies, decodes each event and answers with the same ``message.create`` call, with no SDK at
all. The ratio says what the SDK layers (element parsing, replay guard, dispatch, session
routing, the waiter, the send path) cost on top of the transport. Each user opens a session
(``/echo``) and then talks in lockstep: the next message goes out when the reply to the previous
one arrived, many users at once.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import itertools
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.e2e import Result, table  # noqa: E402
from bench.echo_plugin import Echo  # noqa: E402
from tests.satori_adapter.peer_kit import PEER_TOKEN, PeerProcess  # noqa: E402
from waiter_sdk import (  # noqa: E402
    App,
)
from waiter_sdk.adapters.satori import SatoriAdapter, SatoriSettings  # noqa: E402
from waiter_sdk.config import Settings  # noqa: E402

LOGIN = {"platform": "alpha", "user": {"id": "bot-a"}}


async def lockstep(
    users: int,
    messages: int,
    opener: str | None,
    say: Any,
    inboxes: dict[str, asyncio.Queue[str]],
) -> tuple[float, list[float]]:
    """Every user talks in lockstep in its own channel; elapsed seconds and round trips."""
    loop = asyncio.get_running_loop()

    async def user(n: int) -> list[float]:
        channel = f"c{n}"
        inbox = inboxes[channel]
        if opener is not None:
            await say(n, opener)
            await inbox.get()
        times = []
        for m in range(messages):
            started = loop.time()
            await say(n, f"m{m}")
            reply = await inbox.get()
            assert reply == f"m{m}", reply
            times.append(loop.time() - started)
        if opener is not None:
            await say(n, "q")
        return times

    started = loop.time()
    per_user = await asyncio.gather(*(user(n) for n in range(users)))
    return loop.time() - started, [t for times in per_user for t in times]


# --- the minimal source (child process) ------------------------------------------------------


async def minimal_source(users: int, messages: int, opener: str | None, out: Any) -> None:
    inboxes: dict[str, asyncio.Queue[str]] = {f"c{n}": asyncio.Queue() for n in range(users)}
    connected: asyncio.Queue[web.WebSocketResponse] = asyncio.Queue()
    hung_up = asyncio.Event()
    ids = itertools.count()
    sns = itertools.count()

    async def events(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive()  # IDENTIFY
        await ws.send_str(json.dumps({"op": 4, "body": {"logins": [LOGIN]}}))
        connected.put_nowait(ws)
        async for message in ws:
            if message.type is WSMsgType.TEXT and json.loads(message.data).get("op") == 1:
                await ws.send_str('{"op":2}')
        hung_up.set()
        return ws

    async def create(request: web.Request) -> web.Response:
        params = await request.json()
        inboxes[params["channel_id"]].put_nowait(html.unescape(params["content"]))
        return web.json_response([{"id": f"s{next(ids)}"}])

    app = web.Application()
    app.router.add_get("/v1/events", events)
    app.router.add_post("/v1/message.create", create)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    out.put(int(runner.addresses[0][1]))
    ws = await connected.get()

    async def say(n: int, text: str) -> None:
        sn = next(sns)
        body = {
            "sn": sn,
            "type": "message-created",
            "timestamp": int(datetime.now().timestamp() * 1000),
            "login": LOGIN,
            "channel": {"id": f"c{n}", "type": 0},
            "user": {"id": f"u{n}", "name": f"User {n}"},
            "message": {"id": f"m{sn}", "content": text},
        }
        await ws.send_str(json.dumps({"op": 0, "body": body}))

    try:
        out.put(await lockstep(users, messages, opener, say, inboxes))
        # The bot hangs up once it has the figures; then nothing holds the server's shutdown.
        async with asyncio.timeout(30):
            await hung_up.wait()
    finally:
        await runner.cleanup()


# --- the real server's users (child process) -------------------------------------------------


async def real_users(url: str, users: int, messages: int, opener: str | None, out: Any) -> None:
    inboxes: dict[str, asyncio.Queue[str]] = {f"c{n}": asyncio.Queue() for n in range(users)}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(f"{url}/_peer/sent", params={"after": 0}) as answer:
            cursor = len(await answer.json())

        async def collect() -> None:
            nonlocal cursor
            while True:
                params = {"after": cursor, "wait": 5}
                async with session.get(f"{url}/_peer/sent", params=params) as answer:
                    for record in await answer.json():
                        cursor += 1
                        inboxes[record["channel_id"]].put_nowait(html.unescape(record["content"]))

        async def say(n: int, text: str) -> None:
            spec = {
                "login": "alpha",
                "channel": {"id": f"c{n}", "type": 0},
                "user": {"id": f"u{n}", "name": f"User {n}"},
                "content": text,
            }
            async with session.post(f"{url}/_peer/inject", json=spec) as answer:
                answer.raise_for_status()

        collector = asyncio.create_task(collect())
        try:
            out.put(await lockstep(users, messages, opener, say, inboxes))
        finally:
            collector.cancel()
            await asyncio.gather(collector, return_exceptions=True)


def child(kind: str, args: tuple[Any, ...], out: Any) -> None:
    if kind == "minimal":
        asyncio.run(minimal_source(*args, out))
    else:
        asyncio.run(real_users(*args, out))


class Source:
    """One event source: where the bot connects, and the child process that drives the users."""

    def __init__(self, kind: str, users: int, messages: int, opener: str | None) -> None:
        self.kind = kind
        self.users, self.messages, self.opener = users, messages, opener
        context = multiprocessing.get_context("spawn")
        self.out = context.Queue()
        self.context = context
        self.process: Any = None
        self.peer: PeerProcess | None = None

    async def start(self, peer: PeerProcess | None) -> str:
        """Start the source; returns the base URL the bot connects to."""
        if self.kind == "minimal":
            self.process = self.context.Process(
                target=child,
                args=("minimal", (self.users, self.messages, self.opener), self.out),
            )
            self.process.start()
            port = await asyncio.to_thread(self.out.get, True, 30)
            return f"http://127.0.0.1:{port}"
        assert peer is not None
        self.peer = peer
        return peer.url

    async def run(self) -> tuple[float, list[float]]:
        """Drive the users (once the bot is connected); wait without blocking this loop."""
        if self.kind == "real":
            assert self.peer is not None
            self.process = self.context.Process(
                target=child,
                args=("real", (self.peer.url, self.users, self.messages, self.opener), self.out),
            )
            self.process.start()
        return await asyncio.to_thread(self.out.get, True, 600)  # type: ignore[no-any-return]

    async def close(self) -> None:
        """After the bot hung up: the child ends by itself."""
        if self.process is not None:
            await asyncio.to_thread(self.process.join, 30)


async def run_sdk(kind: str, peer: PeerProcess | None, users: int, messages: int) -> Result:
    source = Source(kind, users, messages, "/echo")
    url = await source.start(peer)
    token = PEER_TOKEN if kind == "real" else None
    adapter = SatoriAdapter(SatoriSettings(url=url, token=token))
    async with App(settings=Settings(storage="memory"), plugins=[Echo], adapters=[adapter]):
        await adapter.wait_ready(timeout=10)
        if kind == "real":
            await listed(url)
        cpu = time.process_time()
        elapsed, latencies = await source.run()
        cpu = time.process_time() - cpu
    await source.close()
    return Result("waiter-sdk", users * messages, elapsed, latencies, cpu)


async def listed(url: str) -> None:
    # The real server lists a socket a moment after READY; events before that are only cached.
    async with aiohttp.ClientSession() as session:
        params = {"count": 1, "wait": 10}
        async with session.get(f"{url}/_peer/connections", params=params) as answer:
            assert (await answer.json())["count"] == 1


async def run_bare(kind: str, peer: PeerProcess | None, users: int, messages: int) -> Result:
    """The floor: the same frames and calls, with a bot of a few dozen lines and no SDK."""
    source = Source(kind, users, messages, None)
    url = await source.start(peer)
    token = PEER_TOKEN if kind == "real" else None
    tasks: set[asyncio.Task[Any]] = set()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(url.replace("http", "ws", 1) + "/v1/events")
        await ws.send_str(json.dumps({"op": 3, "body": {"token": token} if token else {}}))
        ready = await ws.receive()
        assert json.loads(ready.data)["op"] == 4
        if kind == "real":
            await listed(url)

        async def reply(body: dict[str, Any]) -> None:
            login = body["login"]
            call = {"channel_id": body["channel"]["id"], "content": body["message"]["content"]}
            answer = await session.post(
                url + "/v1/message.create",
                data=json.dumps(call),
                headers={
                    **headers,
                    "Satori-Platform": login["platform"],
                    "Satori-User-ID": login["user"]["id"],
                },
            )
            await answer.read()

        async def ping() -> None:
            while True:
                await asyncio.sleep(10)
                await ws.send_str('{"op":1}')

        async def read() -> None:
            loop = asyncio.get_running_loop()
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                signal = json.loads(message.data)
                if signal.get("op") == 0 and signal["body"].get("type") == "message-created":
                    task = loop.create_task(reply(signal["body"]))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)

        reader = asyncio.create_task(read())
        pinger = asyncio.create_task(ping())
        try:
            cpu = time.process_time()
            elapsed, latencies = await source.run()
            cpu = time.process_time() - cpu
        finally:
            for task in (reader, pinger, *tasks):
                task.cancel()
            await asyncio.gather(reader, pinger, *tasks, return_exceptions=True)
            await ws.close()
    await source.close()
    return Result("bare aiohttp", users * messages, elapsed, latencies, cpu)


async def bench_source(
    kind: str, peer: PeerProcess | None, users: int, messages: int, rounds: int
) -> None:
    sdk: list[Result] = []
    bare: list[Result] = []
    for _ in range(rounds):  # interleaved, so drift in machine load hits both alike
        bare.append(await run_bare(kind, peer, users, messages))
        sdk.append(await run_sdk(kind, peer, users, messages))
    best_bare = max(bare, key=lambda r: r.rate)
    best_sdk = max(sdk, key=lambda r: r.rate)
    what = {
        "real": "the real satori-python server (users injected through its control API)",
        "minimal": "a minimal Satori server that drives the users itself",
    }[kind]
    print(f"Source: {what}.")
    print(f"{users} users x {messages} messages each, lockstep; best of {rounds} rounds.")
    print("per user: message -> EVENT -> session waiter -> message.create -> answer read.")
    print()
    print(table([best_bare, best_sdk]))
    ratio = best_sdk.rate / best_bare.rate
    spread = statistics.pstdev([r.rate for r in sdk]) if len(sdk) > 1 else 0.0
    cpu_ratio = min(r.cpu_per_event for r in sdk) / min(r.cpu_per_event for r in bare)
    print(f"waiter-sdk / bare throughput: {ratio:.2f} (SDK rounds spread +- {spread:.0f} events/s)")
    print(f"waiter-sdk / bare bot-side CPU per event: {cpu_ratio:.2f}")
    print()


async def bench(source: str, users: int, messages: int, real_messages: int, rounds: int) -> None:
    print("Satori adapter, end to end over loopback.")
    print("events/s is bounded by the source when the ratio is near 1; the CPU columns are not:")
    print("'1-core max/s' is what the bot side could take on one core at that cost.")
    print()
    if source in ("minimal", "both"):
        await bench_source("minimal", None, users, messages, rounds)
    if source in ("real", "both"):
        with tempfile.TemporaryDirectory() as scratch:
            peer = PeerProcess(Path(scratch) / "peer.log")
            peer.start()
            try:
                await bench_source("real", peer, users, real_messages, rounds)
            finally:
                peer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", choices=["minimal", "real", "both"], default="both")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--messages", type=int, default=200, help="per user, minimal source")
    parser.add_argument("--real-messages", type=int, default=40, help="per user, real server")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(bench(args.source, args.users, args.messages, args.real_messages, args.rounds))


if __name__ == "__main__":
    main()
