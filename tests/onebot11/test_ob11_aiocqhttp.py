"""Keeping the fake honest: aiocqhttp, an independent application-side library from PyPI,
accepts it on the transports aiocqhttp speaks (reverse WS as Universal or API + Event, HTTP
POST with signatures, HTTP API). aiocqhttp has no forward WS client, so that transport of the
fake is checked only by the adapter's own tests."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from .conftest import SECRET, TOKEN
from .fake import FakeOneBot

aiocqhttp = pytest.importorskip("aiocqhttp")

SELF_ID = 10001


@asynccontextmanager
async def serving(bot: Any) -> AsyncIterator[int]:
    """Run aiocqhttp's server (Quart on Hypercorn) on a port the OS picked; yield the port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    stop = asyncio.Event()
    # Hypercorn takes the listening socket over (and closes it), so it is already accepting.
    server = asyncio.create_task(
        bot.run_task(host=f"fd://{listener.detach()}", shutdown_trigger=stop.wait)
    )
    try:
        yield port
    finally:
        stop.set()
        await server


def make_bot(**options: Any) -> tuple[Any, asyncio.Queue[tuple[Any, Any]]]:
    bot = aiocqhttp.CQHttp(message_class=aiocqhttp.Message, api_timeout_sec=3, **options)
    seen: asyncio.Queue[tuple[Any, Any]] = asyncio.Queue()

    @bot.on_message("group")
    async def on_group(event: Any) -> dict[str, Any]:
        info = await bot.get_login_info()
        await bot.send(event, "echo: " + event.message.extract_plain_text())
        seen.put_nowait((event, info))
        return {"reply": "quick & [ok]", "at_sender": False}

    return bot, seen


@pytest.mark.parametrize(
    ("role", "auth", "message_format"),
    [("Universal", "bearer", "array"), ("split", "token", "string")],
)
async def test_reverse_ws(role: str, auth: str, message_format: str) -> None:
    bot, seen = make_bot(access_token=TOKEN)
    async with (
        serving(bot) as port,
        FakeOneBot(SELF_ID, token=TOKEN, message_format=message_format) as fake,
    ):
        url = f"ws://127.0.0.1:{port}/ws/"
        await fake.connect_reverse(url, role=role, auth=auth)
        payload = await fake.group(42, "hi [there], & you", group_id=7, nickname="Bob")
        event, info = await asyncio.wait_for(seen.get(), 5)
        assert (event.self_id, event.user_id, event.group_id) == (SELF_ID, 42, 7)
        assert event.message_id == payload["message_id"]
        assert event.message.extract_plain_text() == "hi [there], & you"
        assert event.sender["nickname"] == "Bob"
        assert info == {"user_id": SELF_ID, "nickname": "fake-bot"}
        echoed = await fake.next_sent()
        assert (echoed.message_type, echoed.target, echoed.text) == (
            "group",
            7,
            "echo: hi [there], & you",
        )
        quick = await fake.next_sent()  # the quick operation, through .handle_quick_operation_async
        assert (quick.target, quick.text) == (7, "quick & [ok]")
        echoes = [c.echo for c in fake.calls]
        assert all(isinstance(e, dict) and "seq" in e for e in echoes)  # aiocqhttp's object echoes


@pytest.mark.parametrize(
    ("auth", "token", "status"), [("none", None, 401), ("bearer", "wrong", 403)]
)
async def test_reverse_ws_refusals(auth: str, token: str | None, status: int) -> None:
    bot, _ = make_bot(access_token=TOKEN)
    async with serving(bot) as port, FakeOneBot(SELF_ID, token=token) as fake:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await fake.connect_reverse(f"ws://127.0.0.1:{port}/ws/", auth=auth)
        assert refused.value.status == status


async def test_http_post_and_http_api() -> None:
    async with FakeOneBot(SELF_ID, token=TOKEN, secret=SECRET) as fake:
        api = await fake.serve_http_api()
        bot, seen = make_bot(access_token=TOKEN, secret=SECRET, api_root=api)
        async with serving(bot) as port:
            fake.post_to(f"http://127.0.0.1:{port}/")
            await fake.group(42, "over http", group_id=7)
            _, info = await asyncio.wait_for(seen.get(), 5)
            assert info["user_id"] == SELF_ID
            assert (await fake.next_sent()).text == "echo: over http"  # via the HTTP API
            assert (await fake.next_sent()).text == "quick & [ok]"  # via the HTTP POST answer
            assert fake.post_statuses == [200]
            assert {c.transport for c in fake.calls} == {"http"}
            fake.secret = "wrong"
            await fake.group(42, "forged", group_id=7)
            fake.secret = None
            await fake.group(42, "unsigned", group_id=7)
            assert fake.post_statuses == [200, 403, 401]
