"""Regression tests for issue 11 item 7, each named after what it protects.

The HTTP ones reach the adapter's server through ``adapter.server`` rather than the newer
``http_post_url``, so that on the code before the fix they fail for the defect, not for a name.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from waiter_sdk import App, NoticeEvent
from waiter_sdk.adapters.onebot11 import OneBot11Adapter, parse_event
from waiter_sdk.adapters.onebot11 import events as events_module
from waiter_sdk.config import OneBot11Settings, Settings

from .conftest import SECRET, SELF_ID, TOKEN, rig
from .fake import FakeOneBot

DOC = Path(__file__).resolve().parents[2] / "docs" / "adapters" / "onebot11.md"

# Only ever a guard against hanging: what each test proves never depends on how long it took.
HANG_GUARD = 10.0


async def api_down(fake: FakeOneBot) -> int:
    """A port for the fake's HTTP API that answers nothing yet (the bot starts first)."""
    await fake.serve_http_api()
    assert fake.api_port is not None
    port = fake.api_port
    await fake.stop_http_api()
    return port


@asynccontextmanager
async def http_bot(
    fake: FakeOneBot, api_port: int, **options: Any
) -> AsyncIterator[OneBot11Adapter]:
    """An app in HTTP POST + HTTP API mode whose adapter starts before the fake's API."""
    settings = OneBot11Settings(
        port=0,
        modes=["http_post", "http_api"],
        api_urls=[f"http://127.0.0.1:{api_port}"],
        access_token=TOKEN,
        secret=SECRET,
        **options,
    )
    adapter = OneBot11Adapter(settings)
    app = App(settings=Settings(), adapters=[adapter])
    try:
        await app.start()
        assert adapter.server is not None
        fake.post_to(adapter.server.url("http", settings.http_post_path))
        yield adapter
    finally:
        await app.stop()
        await fake.close()


# Retries far apart: within HANG_GUARD, only the event or the call under test can bind.
NO_RETRY_SOON = {"reconnect_interval": 600.0, "reconnect_max": 600.0}


async def test_wait_bot_returns_once_an_event_shows_the_late_http_api_is_up() -> None:
    fake = FakeOneBot(SELF_ID, token=TOKEN, secret=SECRET)
    port = await api_down(fake)
    async with http_bot(fake, port, **NO_RETRY_SOON) as adapter:
        waiting = asyncio.create_task(adapter.wait_bot(timeout=HANG_GUARD))
        assert not any(bot.connected for bot in adapter.bots.values())
        await fake.serve_http_api(port)  # NapCat comes up after the bot ...
        await fake.private(5, "hello")  # ... and posts its first event
        bot = await waiting
        assert bot.self_id == str(SELF_ID)
        assert bot.connected
        assert (await bot.get_status())["good"] is True


async def test_wait_bot_returns_once_a_call_reaches_the_late_http_api() -> None:
    fake = FakeOneBot(SELF_ID, token=TOKEN, secret=SECRET)
    port = await api_down(fake)
    async with http_bot(fake, port, **NO_RETRY_SOON) as adapter:
        await fake.serve_http_api(port)
        # With one URL a call goes there before anyone knows the account; it succeeds ...
        assert (await adapter.call_action("get_status"))["good"] is True
        # ... and that marks the account bound.
        bot = await adapter.wait_bot(timeout=HANG_GUARD)
        assert bot.self_id == str(SELF_ID)
        assert adapter.bot(SELF_ID).connected


async def test_wait_bot_returns_when_the_late_http_api_comes_up_with_no_event_or_call() -> None:
    fake = FakeOneBot(SELF_ID, token=TOKEN, secret=SECRET)
    port = await api_down(fake)
    async with http_bot(fake, port, reconnect_interval=0.05, reconnect_max=0.2) as adapter:
        waiting = asyncio.create_task(adapter.wait_bot(timeout=HANG_GUARD))
        await fake.serve_http_api(port)
        assert (await waiting).connected


async def test_bot_connected_is_true_for_an_account_served_by_the_http_api() -> None:
    async with rig("http") as r:
        bot = r.adapter.bot(SELF_ID)
        assert bot.connected  # no WebSocket, but actions reach it
        assert r.adapter.bot(30003).connected is False
        await r.app.stop()
        assert not bot.connected  # the adapter stopped: nothing reaches it any more


async def test_tokenless_unsigned_posts_are_refused_with_a_pointer_to_secret(
    logs: list[str],
) -> None:
    settings = OneBot11Settings(port=0, modes=["http_post"], access_token=TOKEN)
    adapter = OneBot11Adapter(settings)
    body = json.dumps({"post_type": "notice", "notice_type": "x", "self_id": SELF_ID}).encode()
    async with App(settings=Settings(), adapters=[adapter]):
        assert adapter.server is not None
        url = adapter.server.url("http", settings.http_post_path)
        # What go-cqhttp posts without a secret: no signature and no token.
        async with aiohttp.ClientSession() as http, http.post(url, data=body) as response:
            assert response.status == 401
    (refused,) = [line for line in logs if "refused, no access token" in line]
    assert "WAITER_ONEBOT11__SECRET" in refused
    assert TOKEN not in refused
    (row,) = [
        line
        for line in DOC.read_text(encoding="utf-8").splitlines()
        if "`ACCESS_TOKEN`" in line and line.startswith("|")
    ]
    assert "SECRET" in row and "HTTP POST" in row


def test_docs_show_async_with_app_and_the_port_bound_for_port_0(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    (embedded,) = [block for block in blocks if "async with App(" in block]
    assert "port=0" in embedded
    assert "reverse_ws_url" in embedded
    monkeypatch.chdir(tmp_path)
    exec(compile(embedded, f"{DOC.name}[embedding]", "exec"), {"__name__": "__main__"})


UNUSABLE_TIMES = {
    "missing": None,
    "empty": "",
    "words": "soon",
    "boolean": True,
    "nan": float("nan"),
    "infinite": float("inf"),
    "zero": 0,
    "negative": -5,
    "beyond-float": 10**400,
    "array": [1],
    "object": {"s": 1},
}


@pytest.mark.parametrize("time", UNUSABLE_TIMES.values(), ids=UNUSABLE_TIMES.keys())
def test_event_timestamp_falls_back_to_the_wall_clock_without_a_usable_time(
    time: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The parser's wall clock only: the test does not depend on the real clock's value.
    wall_clock = SimpleNamespace(time=lambda: 1_760_000_123.25)
    monkeypatch.setattr(events_module, "time", wall_clock, raising=False)
    notice = {"post_type": "notice", "notice_type": "x", "self_id": SELF_ID}
    if time is not None:
        notice["time"] = time
    event = parse_event(notice)
    assert isinstance(event, NoticeEvent)
    assert event.timestamp == 1_760_000_123.25
