"""Hostile frames over live connections: the reader, the connection and the sessions survive.

Each unreadable frame is logged once, in one short line with secrets masked, never whole. What
the parser refuses is covered in ``test_parser_fuzz.py``; oversized WebSocket frames (closed with
1009 by design) in ``tests/onebot11/test_ob11_liveness.py``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from tests.onebot11.conftest import SELF_ID, TOKEN, rig
from tests.onebot11.fake import FakeOneBot
from waiter_sdk import ActionFailedError, App, Event, MessageEvent
from waiter_sdk.adapters.onebot11 import OneBot11Adapter
from waiter_sdk.adapters.onebot11.auth import sign
from waiter_sdk.adapters.sandbox import SandboxAdapter
from waiter_sdk.config import OneBot11Settings, SandboxSettings, Settings

from .plugins import Echo

ALICE, BOB = 601, 602
GROUP = 8001
DEEP = 100_000  # far past any recursion limit


def deep_array(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def notice_with(field: str, raw_value: str) -> str:
    """A notice whose ``field`` holds ``raw_value`` (JSON text spliced in as is)."""
    head = json.dumps({"post_type": "notice", "notice_type": "x", "self_id": SELF_ID, "time": 1})
    return head[:-1] + f', "{field}": {raw_value}}}'


def message_with(fake: FakeOneBot, **fields: Any) -> str:
    payload = fake.state.message_event(BOB, "odd", group_id=GROUP)
    payload.update(fields)
    return json.dumps(payload)


def drop_lines(logs: list[str]) -> list[str]:
    return [
        line for line in logs if "dropped a frame" in line or "dropped an unreadable event" in line
    ]


async def test_unreadable_frames_are_dropped_and_logged_once(logs: list[str]) -> None:
    echo = Echo()
    async with rig("reverse_ws", [echo]) as r:
        fake = r.fake
        await fake.group(ALICE, "/echo", group_id=GROUP)
        await r.session_opened()
        (channel,) = r.adapter._channels
        tail = "x" * 400 + TOKEN + "y" * 400
        unreadable = [
            deep_array(DEEP),
            deep_object(DEEP),
            # Nesting right at the decoder's limit: a decodable one must not trip a later step
            # (id reading, the log excerpt) into a RecursionError.
            *(notice_with("user_id", deep_array(depth)) for depth in range(940, 1001, 3)),
            '{"post_type": "message", "message_type": "group", "message": 42}',
            message_with(fake, user_id={"id": ALICE}),
            message_with(fake, group_id=[GROUP]),
            message_with(fake, message=[{"type": "text", "data": {"text": ["a"]}}]),
            message_with(fake, message=[{"type": {"evil": True}, "data": {}}]),
            "{" + TOKEN + " not json" + tail,
            "x" * (5 * 1024 * 1024),  # huge garbage, within the frame limit
            "null",
        ]
        # Deep in a field nobody reads: dropped if too deep to decode here, else delivered
        # (the duplicate check serialises it again: that must not recurse out either).
        borderline = [notice_with("extra", deep_array(depth)) for depth in range(940, 1001, 3)]
        # Odd but readable: parsed leniently and handled like any other message.
        odd = [
            message_with(fake, sender={"role": ["owner"], "nickname": 7}),
            message_with(fake, time=10**309),
            message_with(fake, user_id=BOB, extra={"deep": json.loads(deep_array(200))}),
        ]
        seen: list[MessageEvent] = []
        notices: list[Event] = []
        r.app.listen("incoming", lambda e: (seen if e.kind == "message" else notices).append(e))
        for frame in [*unreadable, *borderline, *odd]:
            await fake.send_raw(frame)
        await fake.group(ALICE, "still here", group_id=GROUP)
        assert (await fake.next_sent(within=10)).text == "echo still here"
        assert [e.sender_id for e in seen] == [str(BOB)] * len(odd) + [str(ALICE)]
        assert r.adapter._channels == {channel} and not channel.closed
        assert fake.disconnects.empty()
        assert len(r.app.sessions) == 1
    dropped = drop_lines(logs)
    delivered = [n for n in notices if getattr(n, "type", "") == "x"]
    assert delivered, "no borderline frame decoded: the sweep missed the limit"
    # each frame once: dropped (logged once, the first at warning, then debug) or delivered
    assert len(dropped) + len(delivered) == len(unreadable) + len(borderline)
    assert all(len(line) < 300 for line in dropped), max(dropped, key=len)
    assert not any(TOKEN in line for line in logs)
    assert not any(line.startswith(("ERROR", "CRITICAL")) for line in logs)
    assert echo.outcomes == ["SessionClosedError"]  # ended by the app's stop, nothing else


async def test_invalid_utf8_and_lone_surrogates(logs: list[str]) -> None:
    """A lone surrogate (a Node.js implementation cutting an emoji in half sends "\\ud83d") is
    echoed back intact. Invalid UTF-8 in a binary frame is replaced and delivered. In a text
    frame, RFC 6455 (8.1) requires the connection to fail (1007); the implementation
    reconnects and the session goes on."""
    echo = Echo()
    async with rig("reverse_ws", [echo]) as r:
        fake = r.fake
        await fake.group(ALICE, "/echo", group_id=GROUP)
        await r.session_opened()
        (conn,) = fake.conns
        half = fake.state.message_event(ALICE, "half \ud83d", group_id=GROUP)
        await fake.send_raw(json.dumps(half))  # ASCII JSON: the surrogate travels escaped
        assert (await fake.next_sent()).text == "echo half \ud83d"
        good = json.dumps(fake.state.message_event(ALICE, "MARK", group_id=GROUP)).encode()
        await conn.ws.send_bytes(good.replace(b"MARK", b"bad \xff\xfe bytes"))
        assert (await fake.next_sent()).text == "echo bad \ufffd\ufffd bytes"

        await conn.ws._writer.send_frame(b'{"post_type": "\xff"}', WSMsgType.TEXT)
        await fake.wait_disconnect()
        assert conn.close_code == aiohttp.WSCloseCode.INVALID_TEXT
        assert r.adapter.server is not None
        await fake.connect_reverse(r.adapter.server.url("ws", r.adapter.settings.path))
        await fake.group(ALICE, "after", group_id=GROUP)
        assert (await fake.next_sent()).text == "echo after"
        assert len(r.app.sessions) == 1
    assert not any(line.startswith(("ERROR", "CRITICAL")) for line in logs)
    assert sum("closing" in line and "reverse WS" in line for line in logs) == 1


async def test_http_post_refuses_hostile_bodies_with_400(logs: list[str]) -> None:
    adapter = OneBot11Adapter(
        OneBot11Settings(port=0, modes=["http_post"], secret="k3y-http", dedup_window=0)
    )
    async with App(settings=Settings(), adapters=[adapter]), aiohttp.ClientSession() as http:
        assert adapter.server is not None
        url = adapter.server.url("http", adapter.settings.http_post_path)
        bodies = [
            deep_array(DEEP).encode(),
            deep_object(DEEP).encode(),
            notice_with("user_id", deep_array(500)).encode(),
            b'{"post_type": "notice", "x": "\xff\xfe"}',  # invalid UTF-8
            b"\xff" * 1000,
        ]
        statuses = []
        for body in bodies:
            headers = {"X-Signature": sign("k3y-http", body), "Content-Type": "application/json"}
            async with http.post(url, data=body, headers=headers) as response:
                statuses.append(response.status)
        assert statuses == [400, 400, 204, 400, 400]  # the notice is dropped after parsing
    assert not any(line.startswith(("ERROR", "CRITICAL")) for line in logs)
    assert not any("k3y-http" in line for line in logs)
    assert sum("not an event object" in line for line in logs) == 4
    assert sum("dropped an unreadable event" in line for line in logs) == 1


async def test_sandbox_page_survives_deeply_nested_frames(logs: list[str]) -> None:
    adapter = SandboxAdapter(SandboxSettings(port=0))
    async with App(settings=Settings(), adapters=[adapter]), aiohttp.ClientSession() as http:
        base = adapter.url.split("?")[0]
        async with http.ws_connect(base + "ws", max_msg_size=0) as ws:
            first = json.loads((await ws.receive(timeout=3)).data)
            assert first["type"] == "snapshot"
            for raw in (deep_array(30_000), deep_object(10_000)):  # within the 64 KiB frame
                await ws.send_str(raw)
                async with asyncio.timeout(3):
                    while (frame := json.loads((await ws.receive()).data))["type"] != "error":
                        pass
                assert "nested too deeply" in frame["message"]
            frame = {
                "type": "send",
                "conv": "group:g1",
                "sender": "alice",
                "parts": [{"type": "text", "text": "fine"}],
            }
            await ws.send_str(json.dumps(frame))
            async with asyncio.timeout(3):
                while (got := json.loads((await ws.receive()).data))["type"] != "message":
                    pass
            assert got["message"]["parts"][0]["text"] == "fine"
    assert not any(line.startswith(("ERROR", "CRITICAL")) for line in logs)


async def test_a_hostile_http_api_answer_is_an_action_failure() -> None:
    """The implementation's own answers are input too: deep JSON is ActionFailedError."""

    async def answer(request: web.Request) -> web.Response:
        if request.match_info["action"] == "get_login_info":
            return web.json_response({"status": "ok", "retcode": 0, "data": {"user_id": 5}})
        return web.Response(text=deep_array(DEEP), content_type="application/json")

    server = web.Application()
    server.router.add_post("/{action}", answer)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        adapter = OneBot11Adapter(
            OneBot11Settings(modes=["http_api"], api_urls=[f"http://127.0.0.1:{port}"])
        )
        async with App(settings=Settings(), adapters=[adapter]):
            with pytest.raises(ActionFailedError, match="invalid JSON"):
                await adapter.call_action("get_status")
            assert (await adapter.call_action("get_login_info"))["user_id"] == 5
    finally:
        await runner.cleanup()
