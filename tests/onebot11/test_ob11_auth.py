"""Tokens and signatures: refused before the upgrade, on every route, never logged."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from waiter_sdk import ActionFailedError, AdapterConnectionError, App
from waiter_sdk.adapters.onebot11 import OneBot11Adapter
from waiter_sdk.adapters.onebot11.auth import check_signature, check_token, given_token, sign
from waiter_sdk.config import OneBot11Settings, Settings

from .conftest import SECRET, SELF_ID, TOKEN, rig
from .fake import FakeOneBot


def test_token_forms() -> None:
    assert given_token({"Authorization": "Bearer abc"}, {}) == "abc"
    assert given_token({"Authorization": "token  abc "}, {}) == "abc"
    assert given_token({"Authorization": "Bearer "}, {}) is None  # NapCat with no token
    assert given_token({"Authorization": "Basic abc"}, {}) == ""
    assert given_token({}, {"access_token": "abc"}) == "abc"
    assert given_token({}, {}) is None
    assert check_token(None, None) is None
    assert check_token(None, "anything") is None
    assert check_token("abc", None) == 401
    assert check_token("abc", "") == 403
    assert check_token("abc", "abd") == 403
    assert check_token("abc", "abc") is None


def test_signature_over_raw_bytes() -> None:
    body = b'{"b": 1,  "a":"\\u4f60"}'  # re-serialised JSON would differ from these bytes
    good = sign("k", body)
    assert check_signature("k", body, good) is None
    assert check_signature("k", body, good.upper()) is None  # old Lagrange: upper-case hex
    assert check_signature("k", body, None) == 401
    assert check_signature("k", body, "sha1=00") == 403
    assert check_signature("k", json.dumps(json.loads(body)).encode(), good) == 403
    assert check_signature(None, body, None) is None


@asynccontextmanager
async def started(**options: Any) -> AsyncIterator[OneBot11Adapter]:
    adapter = OneBot11Adapter(OneBot11Settings(port=0, **options))
    app = App(settings=Settings(), adapters=[adapter])
    await app.start()
    try:
        yield adapter
    finally:
        await app.stop()


async def handshake(
    adapter: OneBot11Adapter, headers: dict[str, str], path: str = "/onebot/v11/ws", query: str = ""
) -> int:
    """The HTTP status of a reverse WS handshake: 101 when upgraded."""
    assert adapter.server is not None
    url = adapter.server.url("ws", path) + query
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(url, headers=headers):
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


@pytest.mark.parametrize("role", ["Universal", "API", "Event", "uNiVeRsAl"])
async def test_reverse_ws_auth_happens_before_the_upgrade(role: str, logs: list[str]) -> None:
    base = {"X-Self-ID": "1", "X-Client-Role": role}
    async with started(access_token=TOKEN) as adapter:
        assert await handshake(adapter, base) == 401
        assert await handshake(adapter, {**base, "Authorization": "Bearer "}) == 401
        assert await handshake(adapter, {**base, "Authorization": "Bearer wrong"}) == 403
        assert await handshake(adapter, {**base, "Authorization": "Basic x"}) == 403
        assert await handshake(adapter, base, query="?access_token=wrong") == 403
        assert not adapter.bots  # refused sockets never reached the adapter
        assert await handshake(adapter, {**base, "Authorization": f"Bearer {TOKEN}"}) == 101
        assert await handshake(adapter, {**base, "Authorization": f"Token {TOKEN}"}) == 101
        assert await handshake(adapter, base, query=f"?access_token={TOKEN}") == 101
        assert (
            await handshake(
                adapter, {**base, "Authorization": f"Bearer {TOKEN}"}, "/onebot/v11/ws/api"
            )
            == 101
        )
    assert not any(TOKEN in line for line in logs)
    assert any("refused, a wrong access token" in line for line in logs)


async def test_reverse_ws_without_token_accepts_empty_bearer() -> None:
    async with started() as adapter:
        headers = {"X-Self-ID": "1", "X-Client-Role": "Universal", "Authorization": "Bearer "}
        assert await handshake(adapter, headers) == 101


async def test_reverse_ws_needs_self_id_and_a_known_role() -> None:
    async with started() as adapter:
        assert await handshake(adapter, {"X-Client-Role": "Universal"}) == 400
        assert await handshake(adapter, {"X-Self-ID": "1", "X-Client-Role": "Boss"}) == 400
        assert await handshake(adapter, {"X-Self-ID": "1"}) == 101  # no role: Universal


async def post(
    adapter: OneBot11Adapter, body: bytes, headers: dict[str, str], query: str = ""
) -> int:
    assert adapter.server is not None
    url = adapter.server.url("http", "/onebot/v11/http") + query
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as response,
    ):
        return response.status


EVENT = {"post_type": "notice", "notice_type": "friend_add", "self_id": 1, "user_id": 2, "time": 3}


async def test_http_post_signature(logs: list[str]) -> None:
    body = json.dumps(EVENT, indent=3).encode()  # spacing a re-serialiser would not keep
    async with started(
        modes=["http_post"], secret=SECRET, access_token=TOKEN, dedup_window=0
    ) as adapter:
        assert await post(adapter, body, {}) == 401
        assert await post(adapter, body, {"X-Signature": "sha1=deadbeef"}) == 403
        assert await post(adapter, body, {"X-Signature": sign("other", body)}) == 403
        assert await post(adapter, body, {"X-Signature": sign(SECRET, body)}) == 204
        assert await post(adapter, body, {"X-Signature": sign(SECRET, body).upper()}) == 204
        no_event = b'{"hello": "world"}'
        assert await post(adapter, no_event, {"X-Signature": sign(SECRET, no_event)}) == 400
        garbage = b"{not json " + TOKEN.encode() + b" " + b"x" * 500
        assert await post(adapter, garbage, {"X-Signature": sign(SECRET, garbage)}) == 400
    assert not any(TOKEN in line or SECRET in line for line in logs)
    dropped = [line for line in logs if "not an event object" in line]
    assert len(dropped) == 2  # the first at warning level, the next one at debug
    assert all(len(line) < 300 for line in dropped)
    assert "***" in dropped[1]


async def test_http_post_token_when_unsigned() -> None:
    body = json.dumps(EVENT).encode()
    async with started(modes=["http_post"], access_token=TOKEN) as adapter:
        assert await post(adapter, body, {}) == 401
        assert await post(adapter, body, {"Authorization": "Bearer nope"}) == 403
        assert await post(adapter, body, {"Authorization": f"Bearer {TOKEN}"}) == 204
        assert await post(adapter, body, {}, query=f"?access_token={TOKEN}") == 204


async def test_http_post_body_limit() -> None:
    async with started(modes=["http_post"], max_body_size=4096) as adapter:
        big = json.dumps({**EVENT, "pad": "x" * 5000}).encode()
        assert await post(adapter, big, {}) == 413

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit still holds
            for _ in range(10):
                yield b"x" * 1000

        assert adapter.server is not None
        url = adapter.server.url("http", "/onebot/v11/http")
        async with aiohttp.ClientSession() as session, session.post(url, data=chunks()) as response:
            assert response.status == 413
        assert await post(adapter, json.dumps(EVENT).encode(), {}) == 204


async def test_forward_ws_and_http_api_present_the_token(logs: list[str]) -> None:
    fake = FakeOneBot(SELF_ID, token=TOKEN)
    api = await fake.serve_http_api()
    url = await fake.serve_forward()
    try:
        async with started(
            modes=["forward_ws", "http_api"],
            ws_urls=[url],
            api_urls=[api],
            access_token="not-" + TOKEN,
            reconnect_interval=0.05,
        ) as adapter:
            with pytest.raises(ActionFailedError) as refused:
                await adapter.call_action("get_status", self_id=SELF_ID)
            assert refused.value.retcode == 1403
            # the forward socket is refused too, and retried: the second refusal means the
            # first one was seen (and logged) by the adapter
            assert [await fake.refusals.get(), await fake.refusals.get()] == [403, 403]
        async with started(modes=["forward_ws"], ws_urls=[url], access_token=TOKEN) as adapter:
            bot = await adapter.wait_bot(timeout=3)
            assert (await bot.get_status())["online"] is True
    finally:
        await fake.close()
    assert any("handshake refused with HTTP 403" in line for line in logs)
    assert not any(TOKEN in line for line in logs)


async def test_http_transports_together() -> None:
    async with rig("http") as r:
        assert r.adapter.http_api is not None
        assert r.adapter.http_api.accounts == {
            str(SELF_ID): r.adapter.settings.api_urls[0].rstrip("/")
        }
        assert r.fake.post_statuses == []
        await r.fake.group(1, "hi", group_id=2)
        assert r.fake.post_statuses == [204]
        assert all(c.transport == "http" for c in r.fake.calls)


async def test_http_api_routes_by_account() -> None:
    first, second = FakeOneBot(10001, token=TOKEN), FakeOneBot(20002, token=TOKEN)
    urls = [await first.serve_http_api(), await second.serve_http_api()]
    try:
        async with started(modes=["http_api"], api_urls=urls, access_token=TOKEN) as adapter:
            assert set(adapter.http_api.accounts) == {"10001", "20002"}  # type: ignore[union-attr]
            assert (await adapter.bot(20002).get_login_info())["user_id"] == 20002
            assert (await adapter.bot(10001).get_login_info())["user_id"] == 10001
            with pytest.raises(AdapterConnectionError, match="several"):
                await adapter.call_action("get_status")
            with pytest.raises(AdapterConnectionError, match="30003"):
                await adapter.call_action("get_status", self_id=30003)
    finally:
        await first.close()
        await second.close()
