"""Shared rigs: an App with the OneBot v11 adapter wired to the fake over one transport."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from waiter_sdk import App
from waiter_sdk.adapters.onebot11 import OneBot11Adapter
from waiter_sdk.config import OneBot11Settings, Settings

from .fake import FakeOneBot

# The repository sits beside shared/ (here and in CI's clone).
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "onebot11"

TOKEN = "tok-3f9a"
SECRET = "sig-77c1"
SELF_ID = 10001

# Every transport the adapter speaks, as the scenario tests run them. The variants also vary
# what real implementations vary: go-cqhttp's "Token" scheme, CQ-string events.
TRANSPORTS = ["reverse_ws", "reverse_ws_split", "forward_ws", "forward_ws_split", "http"]


def load_fixture(name: str) -> list[dict[str, Any]]:
    """The captured payloads, without the ``_source``/``_note`` keys."""
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
    payloads = []
    for line in lines:
        if line.strip():
            record = json.loads(line)
            payloads.append({k: v for k, v in record.items() if not k.startswith("_")})
    return payloads


@dataclass
class Rig:
    app: App
    adapter: OneBot11Adapter
    fake: FakeOneBot
    transport: str
    opened: asyncio.Queue[str]

    async def session_opened(self, within: float = 3.0) -> str:
        """Wait until a handler has opened its session (the key), so the next message is its.

        A message the fake sends right after the handler's own reply can overtake the opening:
        people are slower, tests are not.
        """
        async with asyncio.timeout(within):
            return await self.opened.get()


def settings_for(**onebot11: Any) -> Settings:
    return Settings(onebot11=OneBot11Settings(**onebot11))


@asynccontextmanager
async def rig(
    transport: str,
    plugins: list[Any] | tuple[Any, ...] = (),
    *,
    fake: FakeOneBot | None = None,
    **overrides: Any,
) -> AsyncIterator[Rig]:
    """Start an App whose adapter talks to ``fake`` over ``transport``; stop both after."""
    if fake is None:
        fake = FakeOneBot(
            SELF_ID,
            token=TOKEN,
            secret=SECRET,
            message_format="string" if transport == "reverse_ws_split" else "array",
        )
    options: dict[str, Any] = {"port": 0, "access_token": TOKEN, "action_timeout": 3.0}
    if transport.startswith("forward_ws"):
        url = await fake.serve_forward()
        options.update(modes=["forward_ws"], ws_urls=[url], ws_split=transport.endswith("_split"))
        options.update(reconnect_interval=0.05, reconnect_max=0.2)
    elif transport == "http":
        api = await fake.serve_http_api()
        options.update(modes=["http_post", "http_api"], api_urls=[api], secret=SECRET)
    else:
        options.update(modes=["reverse_ws"])
    options.update(overrides)
    adapter = OneBot11Adapter(OneBot11Settings(**options))
    app = App(settings=Settings(), plugins=plugins, adapters=[adapter])
    try:
        await app.start()
        assert adapter.server is not None or transport.startswith("forward_ws")
        if transport.startswith("reverse_ws"):
            assert adapter.server is not None
            url = adapter.server.url("ws", adapter.settings.path)
            split = transport.endswith("_split")
            await fake.connect_reverse(
                url, role="split" if split else "Universal", auth="token" if split else "bearer"
            )
        elif transport == "http":
            assert adapter.server is not None
            fake.post_to(adapter.server.url("http", adapter.settings.http_post_path))
        await adapter.wait_bot(timeout=3)
        opened: asyncio.Queue[str] = asyncio.Queue()
        app.listen("session_opened", lambda session: opened.put_nowait(session.key))
        yield Rig(app, adapter, fake, transport, opened)
    finally:
        await app.stop()
        await fake.close()


@pytest.fixture
def logs() -> Iterator[list[str]]:
    """Everything waiter_sdk logs during the test, one formatted line each."""
    lines: list[str] = []
    logger.enable("waiter_sdk")
    sink = logger.add(lambda message: lines.append(str(message)), level="DEBUG", format="{message}")
    try:
        yield lines
    finally:
        logger.remove(sink)
        logger.disable("waiter_sdk")
