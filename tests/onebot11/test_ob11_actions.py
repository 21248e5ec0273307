"""Actions: echo matching, failures, timeouts, and pending calls failing when a socket closes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from waiter_sdk import (
    ActionFailedError,
    ActionTimeoutError,
    AdapterConnectionError,
    App,
    MessageChain,
    MessageEvent,
    Plugin,
    command,
)
from waiter_sdk.adapters.onebot11 import OneBot11Adapter
from waiter_sdk.adapters.onebot11.api import action_result, new_echo
from waiter_sdk.config import OneBot11Settings, Settings

from .conftest import SELF_ID, TRANSPORTS, load_fixture, rig
from .fake import FakeOneBot

API_FRAMES = load_fixture("api_frames.jsonl")


def test_captured_responses() -> None:
    napcat_timeout, no_echo, with_stream, unknown, member = API_FRAMES
    with pytest.raises(ActionFailedError) as failed:
        action_result("send_group_msg", napcat_timeout)
    assert (failed.value.retcode, failed.value.wording) == (1200, "发送超时")
    assert "1200" in str(failed.value)
    assert "send_group_msg" in str(failed.value)
    assert action_result("send_msg", no_echo) == {"message_id": -2147139720}
    assert action_result("get_login_info", with_stream)["nickname"] == "🤖-dev-bot-"
    with pytest.raises(ActionFailedError) as missing:
        action_result("x", unknown)
    assert missing.value.retcode == 1404
    assert missing.value.message == "不支持的Api undefined"
    assert action_result("get_group_member_info", member)["role"] == "owner"


@pytest.mark.parametrize(
    ("response", "retcode"),
    [
        ({"status": "failed", "retcode": 100, "data": None, "msg": "bad param"}, 100),
        ({"status": "ok", "retcode": 1404, "data": None}, 1404),  # status and retcode disagree
        ({"status": "failed", "retcode": "1200", "data": None}, 1200),
        ({"status": "failed", "data": None}, None),
        ({"status": "weird", "retcode": 0}, 0),
    ],
)
def test_failures_raise(response: dict[str, Any], retcode: int | None) -> None:
    with pytest.raises(ActionFailedError) as failed:
        action_result("act", response)
    assert failed.value.retcode == retcode
    assert failed.value.action == "act"


def test_async_status_is_success() -> None:
    assert action_result("send_msg_async", {"status": "async", "retcode": 1, "data": None}) is None


def test_echoes_are_unique_strings() -> None:
    echoes = {new_echo() for _ in range(1000)}
    assert len(echoes) == 1000
    assert all(isinstance(e, str) for e in echoes)


@asynccontextmanager
async def raw_reverse(
    **options: Any,
) -> AsyncIterator[tuple[OneBot11Adapter, aiohttp.ClientWebSocketResponse]]:
    """An adapter and a hand-driven reverse Universal socket to it, for frame-level tests."""
    adapter = OneBot11Adapter(OneBot11Settings(port=0, action_timeout=3.0, **options))
    app = App(settings=Settings(), adapters=[adapter])
    await app.start()
    try:
        assert adapter.server is not None
        async with aiohttp.ClientSession() as session:
            headers = {"X-Self-ID": str(SELF_ID), "X-Client-Role": "Universal"}
            url = adapter.server.url("ws", "/onebot/v11/ws")
            async with session.ws_connect(url, headers=headers) as ws:
                await adapter.wait_bot(timeout=3)
                yield adapter, ws
    finally:
        await app.stop()


async def test_foreign_object_and_null_echoes_are_ignored() -> None:
    async with raw_reverse() as (adapter, ws):
        call = asyncio.create_task(adapter.call_action("get_login_info"))
        frame = json.loads(await ws.receive_str())
        assert frame["action"] == "get_login_info"
        assert isinstance(frame["echo"], str)
        for stray in API_FRAMES:  # object echo, no echo, "123", null echo, none
            await ws.send_str(json.dumps(stray, ensure_ascii=False))
        await ws.send_str(
            json.dumps({"status": "ok", "retcode": 0, "data": {}, "echo": {"seq": frame["echo"]}})
        )
        await ws.send_str(
            json.dumps({"status": "ok", "retcode": 0, "data": {}, "echo": [frame["echo"]]})
        )
        assert not call.done()
        await ws.send_str(
            json.dumps(
                {"status": "ok", "retcode": 0, "data": {"user_id": 1}, "echo": frame["echo"]}
            )
        )
        assert await call == {"user_id": 1}
        # a late duplicate of that answer, after the call ended, is ignored too
        await ws.send_str(
            json.dumps({"status": "ok", "retcode": 0, "data": {}, "echo": frame["echo"]})
        )
        second = asyncio.create_task(adapter.call_action("get_status"))
        frame = json.loads(await ws.receive_str())
        await ws.send_str(json.dumps({**API_FRAMES[0], "echo": frame["echo"]}))
        with pytest.raises(ActionFailedError) as failed:
            await second
        assert failed.value.retcode == 1200


async def test_concurrent_calls_match_their_own_answers() -> None:
    async with raw_reverse() as (adapter, ws):
        calls = [
            asyncio.create_task(adapter.call_action("get_stranger_info", user_id=i))
            for i in range(20)
        ]
        frames = [json.loads(await ws.receive_str()) for _ in calls]
        for frame in reversed(frames):  # answered out of order
            data = {"user_id": frame["params"]["user_id"]}
            await ws.send_str(
                json.dumps({"status": "ok", "retcode": 0, "data": data, "echo": frame["echo"]})
            )
        assert [(await call)["user_id"] for call in calls] == list(range(20))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_failures_and_timeouts_per_call(transport: str) -> None:
    # The configured timeout is far beyond the hang guard below, so only the per-call one can
    # end the held call in time; the error then says which limit it was.
    async with rig(transport, action_timeout=60.0) as r:
        bot = r.adapter.bot(SELF_ID)
        with pytest.raises(ActionFailedError) as missing:
            await bot.call_action("send_group_msg")  # no params: the fake says 100
        assert missing.value.retcode == 100
        r.fake.failures["send_group_msg"] = ("failed", 1200, "发送超时")
        with pytest.raises(ActionFailedError) as napcat:
            await bot.send_group_msg(1, "hi")
        assert (napcat.value.retcode, napcat.value.wording) == (1200, "发送超时")
        with pytest.raises(ActionFailedError) as unknown:
            await bot.call_action("no_such_action")
        assert unknown.value.retcode == 1404
        assert await bot.call_action("send_private_msg_async", user_id=1, message="x") is None
        r.fake.held.add("get_group_info")
        with pytest.raises(ActionTimeoutError) as late:
            async with asyncio.timeout(10):  # only a hang guard
                await bot.call_action("get_group_info", group_id=1, timeout=0.2)
        assert late.value.timeout == 0.2
        assert late.value.action == "get_group_info"
        assert isinstance(late.value, TimeoutError)
        # it timed out waiting for an answer, not on the way: the fake got the call and held it
        assert [c.action for c in r.fake.held_calls] == ["get_group_info"]
        # the connection is fine afterwards
        assert (await bot.get_login_info())["user_id"] == SELF_ID


@pytest.mark.parametrize(
    "transport", ["reverse_ws", "reverse_ws_split", "forward_ws", "forward_ws_split"]
)
async def test_pending_call_fails_at_once_when_the_socket_closes(transport: str) -> None:
    async with rig(transport, action_timeout=30.0) as r:
        r.fake.held.add("get_group_info")
        call = asyncio.create_task(r.adapter.call_action("get_group_info", group_id=1))
        await r.fake.wait_call("get_group_info")
        await r.fake.drop()
        # The type says it: the socket's close failed the call (AdapterConnectionError), not the
        # 30 s action timeout (ActionTimeoutError), which the hang guard stops well before.
        with pytest.raises(AdapterConnectionError) as closed:
            async with asyncio.timeout(10):
                await call
        assert not isinstance(closed.value, TimeoutError)
        assert "before action 'get_group_info' was answered" in str(closed.value)
        assert isinstance(closed.value, ConnectionError)
        if transport.startswith("reverse"):
            # nothing reconnects a reverse socket but the implementation: new calls fail at once
            with pytest.raises(AdapterConnectionError):
                await r.adapter.call_action("get_status")


async def test_helpers_send_numbers_not_strings() -> None:
    async with rig("reverse_ws") as r:
        bot = r.adapter.bot(SELF_ID)
        info = await bot.get_group_member_info("123", "456")
        assert info["role"] == "member"
        await bot.set_group_ban("123", "456", 600)
        await bot.set_friend_add_request("1678697473000000", approve=True)
        await bot.set_group_add_request("flag-1", "invite", approve=False, reason="no")
        message_id = await bot.send_private_msg("456", "hi")
        assert message_id.lstrip("-").isdigit()
        assert (await bot.get_msg(message_id))["message_id"] == int(message_id)
        await bot.delete_msg(message_id)
        params = {c.action: c.params for c in r.fake.calls}
        assert params["get_group_member_info"] == {
            "group_id": 123,
            "user_id": 456,
            "no_cache": False,
        }
        assert params["set_group_ban"] == {"group_id": 123, "user_id": 456, "duration": 600}
        assert params["set_friend_add_request"] == {"flag": "1678697473000000", "approve": True}
        assert params["set_group_add_request"]["reason"] == "no"
        assert params["delete_msg"] == {"message_id": int(message_id)}


class Quoter(Plugin):
    name = "quoter"

    @command("quote")
    async def quote(self, event: MessageEvent) -> None:
        assert event.adapter is not None
        await event.adapter.send(event.target, MessageChain(["quoted"]), reply_to=event.message_id)


async def test_reply_to_goes_first_and_ids_stay_strings() -> None:
    async with rig("reverse_ws", [Quoter]) as r:
        payload = await r.fake.group(5, "/quote", group_id=6)
        sent = await r.fake.next_sent()
        assert sent.segments == [
            {"type": "reply", "data": {"id": str(payload["message_id"])}},
            {"type": "text", "data": {"text": "quoted"}},
        ]


async def test_several_accounts_on_one_server() -> None:
    async with rig("reverse_ws") as r:
        assert r.adapter.server is not None
        other = FakeOneBot(20002, token=r.fake.token)
        try:
            await other.connect_reverse(r.adapter.server.url("ws", "/onebot/v11/ws"))
            await r.adapter.wait_bot(20002, timeout=3)
            with pytest.raises(AdapterConnectionError, match="several"):
                await r.adapter.call_action("get_status")
            assert (await r.adapter.bot(20002).get_login_info())["user_id"] == 20002
            assert (await r.adapter.call_action("get_login_info", self_id="10001"))[
                "user_id"
            ] == SELF_ID
            with pytest.raises(AdapterConnectionError):
                await r.adapter.call_action("get_status", self_id="30003")
        finally:
            await other.close()


async def test_a_new_socket_of_the_same_account_replaces_the_old() -> None:
    async with rig("reverse_ws") as r:
        assert r.adapter.server is not None
        (old,) = [c for c in r.fake.conns]
        await r.fake.connect_reverse(r.adapter.server.url("ws", "/onebot/v11/ws"))
        gone = await r.fake.wait_disconnect()
        assert gone is old
        assert (await r.adapter.bot(SELF_ID).get_status())["good"] is True
        assert len(r.fake.conns) == 1
