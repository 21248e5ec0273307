"""Liveness: reconnects, heartbeats, oversized and malformed frames, duplicates, identification."""

from __future__ import annotations

import asyncio
import json

import pytest

from waiter_sdk import AdapterConnectionError, App, Event, MessageEvent
from waiter_sdk.adapters.onebot11 import OneBot11Adapter
from waiter_sdk.adapters.onebot11.dedup import Deduplicator
from waiter_sdk.adapters.onebot11.forward_ws import backoff
from waiter_sdk.config import OneBot11Settings, Settings

from .conftest import SECRET, SELF_ID, TOKEN, rig
from .fake import FakeOneBot
from .test_ob11_scenarios import GROUP, Parrot


def test_backoff_doubles_caps_and_jitters() -> None:
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (10, 30.0), (1000, 30.0)]:
        delays = [backoff(attempt, 1.0, 30.0) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 100  # jittered, not in lockstep


async def test_forward_ws_reconnects_after_the_implementation_restarts() -> None:
    async with rig("forward_ws", [Parrot]) as r:
        (client,) = r.adapter.forward
        port = r.fake.forward_port
        await r.fake.stop_forward()
        with pytest.raises(AdapterConnectionError):  # down: fail at once, no waiting
            await r.adapter.call_action("get_status")
        await r.fake.serve_forward(port)
        bot = await r.adapter.wait_bot(timeout=5)
        assert bot.self_id == str(SELF_ID)
        assert client.connects == 2
        await r.fake.group(1, "/parrot", group_id=GROUP)
        assert (await r.fake.next_sent()).text == "Say something; q to stop."


async def test_silent_connection_is_closed_after_three_intervals(logs: list[str]) -> None:
    async with rig("reverse_ws", heartbeat_grace=3.0) as r:
        (channel,) = r.adapter._channels
        beating = r.fake.start_heartbeat(100, beats=5)
        await beating  # five beats 100 ms apart: alive all along
        assert r.adapter.bot(SELF_ID).connected
        gone = await r.fake.wait_disconnect(within=3)  # a hang guard, not a measure
        assert gone.close_code == 1001
        assert not r.adapter.bot(SELF_ID).connected
        # the watchdog closed it (nothing else gives this reason), after 3 x 100 ms of silence
        assert channel.close_reason == "heartbeat timeout"
        assert any("no frame for 0.3 s (3 heartbeat intervals)" in line for line in logs)


async def test_forward_ws_reconnects_after_a_heartbeat_timeout() -> None:
    async with rig("forward_ws", heartbeat_grace=2.0) as r:
        (client,) = r.adapter.forward
        r.fake.start_heartbeat(100, beats=1)  # one beat, then silence
        await r.fake.wait_disconnect(within=3)
        r.fake.stop_heartbeat()
        await r.adapter.wait_bot(timeout=3)
        assert client.connects == 2
        assert (await r.adapter.call_action("get_status"))["good"] is True


async def test_no_watchdog_without_heartbeats() -> None:
    async with rig("reverse_ws") as r:
        (channel,) = [c for c in r.adapter._channels]
        assert channel._watchdog is None  # implementations may disable heartbeats


async def test_large_frames_pass_and_oversized_ones_close_the_socket(logs: list[str]) -> None:
    async with rig("reverse_ws", max_message_size=6 * 1024 * 1024) as r:
        seen: asyncio.Queue[Event] = asyncio.Queue()
        r.app.listen("incoming", seen.put_nowait)
        big = "x" * (5 * 1024 * 1024 // 2)  # in message and raw_message: a 5 MiB frame,
        # over aiohttp's 4 MiB default
        await r.fake.group(1, big, group_id=2)
        event = await asyncio.wait_for(seen.get(), 3)
        while not isinstance(event, MessageEvent):
            event = await asyncio.wait_for(seen.get(), 3)
        assert len(event.message_str) == len(big)
        await r.fake.group(1, big + big, group_id=2)  # a 10 MiB frame: over the configured limit
        await r.fake.wait_disconnect(within=3)
        assert not r.adapter.bot(SELF_ID).connected
        # closed with 1009 "message too big" (the sender, mid-frame, may only see the drop)
        assert any("exceeds limit 6291456; closing" in line for line in logs)


async def test_malformed_frames_are_logged_once_and_dropped(logs: list[str]) -> None:
    async with rig("reverse_ws", [Parrot]) as r:
        await r.fake.group(1, "/parrot", group_id=GROUP)
        assert (await r.fake.next_sent()).text == "Say something; q to stop."
        await r.session_opened()
        await r.fake.send_raw("{this is not json " + TOKEN + " and a long tail" * 50)
        await r.fake.send_raw("[1, 2, 3]")
        await r.fake.send_raw("null")
        await r.fake.send_raw('{"post_type": "message", "message_type": "group", "message": 42}')
        await r.fake.group(1, "still here", group_id=GROUP)  # the session survived too
        assert (await r.fake.next_sent()).text == "still here"
        assert r.adapter.bot(SELF_ID).connected
    warnings = [line for line in logs if "dropped a frame" in line]
    assert len(warnings) == 3
    assert "not JSON" in warnings[0]
    assert len(warnings[0]) < 250
    assert "***" in warnings[0]
    assert any("dropped an unreadable event" in line for line in logs)
    assert not any(TOKEN in line for line in logs)
    assert any("3 malformed frames were dropped" in line for line in logs)


async def test_repeated_deliveries_are_dropped() -> None:
    async with rig("http", dedup_window=5.0) as r:
        seen: list[Event] = []
        r.app.listen("incoming", seen.append)
        payload = r.fake.state.message_event(1, "hi", group_id=2)
        body = json.dumps(payload).encode()
        assert adapter_url(r) is not None
        assert await r.fake.post(adapter_url(r), body) == 204
        assert await r.fake.post(adapter_url(r), body) == 204  # an HTTP POST retry
        request = {
            "post_type": "request",
            "request_type": "friend",
            "self_id": SELF_ID,
            "user_id": 3,
            "comment": "hi",
            "flag": "f1",
            "time": 1,
        }
        await r.fake.emit(request)
        await r.fake.emit(dict(reversed(list(request.items()))))  # same event, other key order
        heartbeat = r.fake.state.heartbeat(5000)
        await r.fake.emit(heartbeat)
        await r.fake.emit(heartbeat)  # meta events are per connection: never deduplicated
        assert [e.kind for e in seen] == ["message", "request", "meta", "meta"]


def adapter_url(r: object) -> str:
    adapter = r.adapter  # type: ignore[attr-defined]
    return str(adapter.server.url("http", adapter.settings.http_post_path))


async def test_the_same_event_on_two_channels_is_handled_once() -> None:
    fake = FakeOneBot(SELF_ID, token=TOKEN, secret=SECRET)
    async with rig("http", fake=fake, modes=["http_post", "http_api", "reverse_ws"]) as r:
        assert r.adapter.server is not None
        await fake.connect_reverse(r.adapter.server.url("ws", r.adapter.settings.path))
        seen: list[Event] = []
        r.app.listen("incoming", lambda e: seen.append(e) if e.kind == "message" else None)
        await fake.group(1, "once", group_id=2)  # on the socket and by HTTP POST
        await fake.group(1, "twice", group_id=2)
        # the HTTP POST answer came after dispatch; the socket copy was before or is dropped
        assert [e.message_str for e in seen] == ["once", "twice"]


async def test_own_messages_are_dropped() -> None:
    async with rig("reverse_ws", [Parrot]) as r:
        seen: list[Event] = []
        r.app.listen("incoming", seen.append)
        await r.fake.emit(
            r.fake.state.message_event(SELF_ID, "/parrot", group_id=2, post_type="message_sent")
        )
        await r.fake.emit(
            r.fake.state.message_event(SELF_ID, "/parrot", group_id=2)
        )  # Lagrange style
        await r.fake.group(1, "/parrot", group_id=2)
        reply = await r.fake.next_sent()
        assert reply.target == 2
        assert len(r.fake.sent) == 1
        assert [e.kind for e in seen if e.kind == "message"] == ["message"]


@pytest.mark.parametrize("lifecycle", [True, False])
async def test_forward_ws_learns_the_account(lifecycle: bool) -> None:
    fake = FakeOneBot(SELF_ID, token=TOKEN, lifecycle=lifecycle)
    async with rig("forward_ws", fake=fake, identify_timeout=0.1) as r:
        assert r.adapter.bot(SELF_ID).connected
        asked = [c for c in fake.calls if c.action == "get_login_info"]
        assert len(asked) == (0 if lifecycle else 1)


async def test_split_forward_sockets_pair_by_account() -> None:
    async with rig("forward_ws_split") as r:
        roles = sorted(c.role for c in r.fake.conns)
        assert roles == ["api", "event"]
        # the API socket learned its account by asking, the Event socket from lifecycle
        assert [c.action for c in r.fake.calls] == ["get_login_info"]
        assert {ch.self_id for ch in r.adapter._channels} == {str(SELF_ID)}


async def test_stop_leaves_nothing_running() -> None:
    async with rig("forward_ws") as r:
        r.fake.held.add("get_group_info")
        call = asyncio.create_task(r.adapter.call_action("get_group_info", group_id=1))
        await r.fake.wait_call("get_group_info")
        await r.app.stop()
        with pytest.raises(AdapterConnectionError):
            await call
        assert len(r.adapter.tasks) == 0
        assert not r.adapter._channels
        assert r.adapter.server is None
        assert r.adapter._session is None


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def time(self) -> float:
        return self.now


async def test_dedup_window_expires_and_stays_bounded() -> None:
    seen = Deduplicator(window=10.0, limit=3)
    clock = FakeClock()
    seen._loop = clock  # type: ignore[assignment]
    event = {"post_type": "notice", "notice_type": "friend_add", "self_id": 1, "user_id": 2}
    assert not seen.repeated(event)
    assert seen.repeated(event)
    clock.now += 9.5
    assert seen.repeated(event)  # within the window
    clock.now += 10.5
    assert not seen.repeated(event)  # two windows on: a new occurrence
    clock.now += 15.0
    assert seen.repeated(event)  # remembered for at least a window...
    clock.now += 20.0
    assert not seen.repeated(event)  # ...and less than two
    clock.now += 100.0  # long idle: nothing from before it is remembered
    assert not seen.repeated({**event, "user_id": 99})
    clock.now += 10.0
    assert seen.repeated({**event, "user_id": 99})
    for user in range(10):
        seen.repeated({**event, "user_id": user})
    assert len(seen) <= 3
    assert not Deduplicator(window=0).repeated(event) and not Deduplicator(window=0).repeated(event)


async def test_reverse_ws_accepts_the_implementation_back() -> None:
    async with rig("reverse_ws") as r:
        assert r.adapter.server is not None
        await r.fake.drop()
        await r.fake.connect_reverse(r.adapter.server.url("ws", r.adapter.settings.path))
        await r.adapter.wait_bot(timeout=3)
        assert (await r.adapter.call_action("get_status"))["online"] is True


async def test_a_taken_port_is_reported_clearly() -> None:
    async with rig("reverse_ws") as r:
        assert r.adapter.server is not None
        taken = r.adapter.server.port
        second = OneBot11Adapter(OneBot11Settings(port=taken))
        with pytest.raises(AdapterConnectionError, match="WAITER_ONEBOT11__PORT"):
            await App(settings=Settings(), adapters=[second]).start()
