"""End-to-end loopback figure for the OneBot v11 adapter: events per second from the fake
implementation, over a reverse WebSocket, through the adapter into a session waiter, and the
waiter's reply back to the fake as a ``send_private_msg`` action (answered, echo matched).

Usage::

    .venv/bin/python bench/onebot11_e2e.py            # 20 to 40 s on the 2-core machine
    .venv/bin/python bench/onebot11_e2e.py --users 20 --messages 50 --rounds 1

Each simulated user opens a session (``/echo``) and then talks in lockstep: the next message
goes out when the reply to the previous one arrived, many users at once. The fake runs in a
child process (as NapCat would), so the bot side has its event loop to itself. The same fake
drives a bare baseline in the same run: a minimal aiohttp WebSocket server that decodes each
event and answers with the same action (echo-matched), with no SDK at all. The ratio says what
the SDK layers (parsing, dedup, dispatch, session routing, the waiter, the send path) cost on
top of the transport.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.e2e import Result, table  # noqa: E402
from bench.echo_plugin import Echo  # noqa: E402
from tests.onebot11.fake import FakeOneBot, Sent  # noqa: E402  (the fake lives with the tests)
from waiter_sdk import (  # noqa: E402
    App,
)
from waiter_sdk.adapters.onebot11 import OneBot11Adapter  # noqa: E402
from waiter_sdk.config import OneBot11Settings, Settings  # noqa: E402

SELF_ID = 10001


async def drive(
    fake: FakeOneBot, users: int, messages: int, opener: str | None
) -> tuple[float, list[float]]:
    """Every user talks in lockstep; returns elapsed seconds and per-message round trips."""
    loop = asyncio.get_running_loop()
    inboxes: dict[int, asyncio.Queue[Sent]] = {u: asyncio.Queue() for u in range(1, users + 1)}

    async def route() -> None:
        while True:
            sent = await fake.state._sent_queue.get()
            inboxes[sent.target].put_nowait(sent)

    async def user(user_id: int) -> list[float]:
        inbox = inboxes[user_id]
        if opener is not None:
            await fake.private(user_id, opener)
            await inbox.get()
        times = []
        for n in range(messages):
            started = loop.time()
            await fake.private(user_id, f"m{n}")
            reply = await inbox.get()
            assert reply.text == f"m{n}", reply.text
            times.append(loop.time() - started)
        if opener is not None:
            await fake.private(user_id, "q")
        return times

    router = asyncio.create_task(route())
    try:
        started = loop.time()
        per_user = await asyncio.gather(*(user(u) for u in inboxes))
        elapsed = loop.time() - started
    finally:
        router.cancel()
        await asyncio.gather(router, return_exceptions=True)
    return elapsed, [t for times in per_user for t in times]


async def fake_side(
    url: str, users: int, messages: int, opener: str | None
) -> tuple[float, list[float]]:
    async with FakeOneBot(SELF_ID) as fake:
        await fake.connect_reverse(url)
        return await drive(fake, users, messages, opener)


def child(url: str, users: int, messages: int, opener: str | None, out: Any) -> None:
    out.put(asyncio.run(fake_side(url, users, messages, opener)))


async def in_child(
    url: str, users: int, messages: int, opener: str | None
) -> tuple[float, list[float]]:
    """Run the fake and its users in another process; wait without blocking this loop."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(target=child, args=(url, users, messages, opener, out))
    process.start()
    try:
        return await asyncio.to_thread(out.get, True, 120)  # type: ignore[no-any-return]
    finally:
        await asyncio.to_thread(process.join, 10)


async def run_sdk(users: int, messages: int) -> Result:
    settings = OneBot11Settings(port=0, modes=["reverse_ws"], ws_ping_interval=0)
    adapter = OneBot11Adapter(settings)
    async with App(settings=Settings(), plugins=[Echo], adapters=[adapter]):
        assert adapter.server is not None
        url = adapter.server.url("ws", settings.path)
        cpu = time.process_time()
        elapsed, latencies = await in_child(url, users, messages, opener="/echo")
        cpu = time.process_time() - cpu
    return Result("waiter-sdk", users * messages, elapsed, latencies, cpu)


async def bare_server(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, int(runner.addresses[0][1])


async def run_bare(users: int, messages: int) -> Result:
    """The floor: the same frames and round trips, with a bot of a dozen lines and no SDK."""
    echoes = itertools.count()
    tasks: set[asyncio.Task[Any]] = set()

    async def handler(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=64 * 1024 * 1024)
        await ws.prepare(request)
        pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        loop = asyncio.get_running_loop()

        async def reply(event: dict[str, Any]) -> None:
            echo = f"e{next(echoes)}"
            future = pending[echo] = loop.create_future()
            text = event["message"][0]["data"]["text"]
            params = {
                "user_id": event["user_id"],
                "message": [{"type": "text", "data": {"text": text}}],
            }
            await ws.send_str(
                json.dumps({"action": "send_private_msg", "params": params, "echo": echo})
            )
            await future
            del pending[echo]

        async for message in ws:
            if message.type is not WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            if "post_type" in frame:
                if frame.get("post_type") == "message":
                    task = loop.create_task(reply(frame))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            elif frame.get("echo") in pending:
                pending[frame["echo"]].set_result(frame)
        return ws

    runner, port = await bare_server(handler)
    try:
        cpu = time.process_time()
        elapsed, latencies = await in_child(f"ws://127.0.0.1:{port}/ws", users, messages, None)
        cpu = time.process_time() - cpu
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runner.cleanup()
    return Result("bare aiohttp", users * messages, elapsed, latencies, cpu)


async def bench(users: int, messages: int, rounds: int) -> None:
    sdk: list[Result] = []
    bare: list[Result] = []
    for _ in range(rounds):  # interleaved, so drift in machine load hits both alike
        bare.append(await run_bare(users, messages))
        sdk.append(await run_sdk(users, messages))
    best_bare = max(bare, key=lambda r: r.rate)
    best_sdk = max(sdk, key=lambda r: r.rate)
    print(f"OneBot v11 reverse WS loopback: {users} users x {messages} messages each, lockstep")
    print("per user: message -> event -> session waiter -> send_private_msg -> answer matched.")
    print(f"Best of {rounds} rounds (the first warms caches); the fake runs in a child process.")
    print()
    print(table([best_bare, best_sdk]))
    print()
    ratio = best_sdk.rate / best_bare.rate
    spread = statistics.pstdev([r.rate for r in sdk]) if len(sdk) > 1 else 0.0
    cpu_ratio = min(r.cpu_per_event for r in sdk) / min(r.cpu_per_event for r in bare)
    print(f"waiter-sdk / bare throughput: {ratio:.2f} (SDK rounds spread +- {spread:.0f} events/s)")
    print(f"waiter-sdk / bare bot-side CPU per event: {cpu_ratio:.2f}")
    print("events/s is bounded by the fake when the ratio is near 1; the CPU columns are not:")
    print("'1-core max/s' is what the bot side could take on one core at that cost.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(bench(args.users, args.messages, args.rounds))


if __name__ == "__main__":
    main()
