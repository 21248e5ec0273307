"""The adapter's own side of the wire, against a tiny aiohttp server (``fake.py``): the token
on IDENTIFY and on every API call (and never in a log line), errors mapped, a missing PONG,
resume by sn, and pending calls failing at once when the adapter stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from waiter_sdk import (
    ActionFailedError,
    ActionTimeoutError,
    AdapterConnectionError,
    App,
    MessageChain,
    Target,
)
from waiter_sdk.adapters.satori import SatoriAdapter, SatoriSettings
from waiter_sdk.config import Settings
from waiter_sdk.events import Event

from .fake import FakeSatori

TOKEN = "tok-secret-5a1f"
BOT = "chat:bot"
TARGET = Target("satori", BOT, group_id="c1")


def message(sn: int, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "sn": sn,
        "type": "message-created",
        "timestamp": 1_700_000_000_000 + sn,
        "login": {"platform": "chat", "user": {"id": "bot"}},
        "channel": {"id": "c1", "type": 0},
        "user": {"id": "u1"},
        "message": {"id": f"m{sn}", "content": text},
        **extra,
    }


@asynccontextmanager
async def connected(
    fake: FakeSatori, **overrides: Any
) -> AsyncIterator[tuple[SatoriAdapter, list[Event]]]:
    url = await fake.start()
    options: dict[str, Any] = {
        "url": url,
        "token": TOKEN,
        "reconnect_interval": 0.02,
        "reconnect_max": 0.1,
        "request_timeout": 5.0,
    }
    options.update(overrides)
    adapter = SatoriAdapter(SatoriSettings(**options))
    app = App(settings=Settings(storage="memory"), adapters=[adapter])
    seen: list[Event] = []
    app.listen("incoming", seen.append)
    try:
        await app.start()
        yield adapter, seen
    finally:
        await app.stop()
        await fake.close()


async def wait_for(predicate: Any, within: float = 5.0) -> None:
    """Wait until ``predicate()`` holds, looking again each time the loop turns (bounded)."""
    async with asyncio.timeout(within):
        while not predicate():
            await asyncio.sleep(0.005)


async def test_the_token_goes_on_identify_and_every_api_call_and_never_in_logs(
    logs: list[str],
) -> None:
    fake = FakeSatori(token=TOKEN)
    async with connected(fake) as (adapter, _):
        await adapter.wait_ready(timeout=5)
        assert fake.identifies == [{"token": TOKEN}]
        assert await adapter.send(TARGET, MessageChain(["hi"])) == "sent-1"
        request = fake.requests[-1]
        assert request.method == "message.create"
        assert request.body == {"channel_id": "c1", "content": "hi"}
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert headers["authorization"] == f"Bearer {TOKEN}"
        assert (headers["satori-platform"], headers["satori-user-id"]) == ("chat", "bot")
        assert (headers["x-platform"], headers["x-self-id"]) == ("chat", "bot")  # before 1.1
        assert headers["content-type"] == "application/json"
        # A refusal that quotes the token back: the error and the logs show it masked.
        fake.answer("message.create", 403, f'{{"error": "bad token {TOKEN}"}}')
        with pytest.raises(ActionFailedError) as refused:
            await adapter.send(TARGET, MessageChain(["hi"]))
        assert refused.value.retcode == 403
        assert "WAITER_SATORI__TOKEN" in str(refused.value)
        assert TOKEN not in str(refused.value)
        assert TOKEN not in repr(adapter.settings) + str(adapter.settings.model_dump())
    assert logs
    assert not [line for line in logs if TOKEN in line or TOKEN[:8] in line]


async def test_no_token_means_no_header_and_no_token_field() -> None:
    fake = FakeSatori()
    async with connected(fake, token="") as (adapter, _):
        await adapter.wait_ready(timeout=5)
        assert fake.identifies == [{}]
        await adapter.send(TARGET, MessageChain(["hi"]))
        assert "authorization" not in {k.lower() for k in fake.requests[-1].headers}


async def test_a_wrong_token_is_refused_and_said_so_without_the_token(logs: list[str]) -> None:
    fake = FakeSatori(token="the-right-one")
    async with connected(fake) as (adapter, _):
        await wait_for(lambda: len(fake.identifies) >= 2)  # refused, and tried again
        assert adapter.socket is not None
        assert adapter.socket.connects == 0
    refusals = [line for line in logs if "instead of READY" in line]
    assert refusals
    assert "code 3000" in refusals[0]
    assert "WAITER_SATORI__TOKEN" in refusals[0]
    assert not [line for line in logs if TOKEN in line]


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (404, "Action 'x' is not supported", "no such API"),
        (400, "", "malformed"),
        (500, "boom", "server error"),
        (200, "not json", "not JSON"),
    ],
)
async def test_api_errors_are_mapped(status: int, body: str, words: str) -> None:
    fake = FakeSatori()
    async with connected(fake) as (adapter, _):
        await adapter.wait_ready(timeout=5)
        fake.answer("message.create", status, body)
        with pytest.raises(ActionFailedError, match=words) as failed:
            await adapter.send(TARGET, MessageChain(["hi"]))
        assert failed.value.retcode == status
        assert failed.value.action == "message.create"


async def test_a_slow_api_is_a_timeout_and_a_dead_server_a_connection_error() -> None:
    fake = FakeSatori()
    async with connected(fake, request_timeout=0.05) as (adapter, _):
        await adapter.wait_ready(timeout=5)
        fake.hold("message.create")
        with pytest.raises(ActionTimeoutError):
            await adapter.send(TARGET, MessageChain(["hi"]))
    dead = SatoriAdapter(SatoriSettings(url="http://127.0.0.1:9", connect_timeout=2))
    app = App(settings=Settings(storage="memory"), adapters=[dead])
    await app.start()
    try:
        with pytest.raises(AdapterConnectionError, match="cannot reach the Satori server"):
            await dead.send(TARGET, MessageChain(["hi"]))
    finally:
        await app.stop()


async def test_pending_calls_fail_at_once_when_the_adapter_stops() -> None:
    fake = FakeSatori()
    url = await fake.start()
    adapter = SatoriAdapter(SatoriSettings(url=url, request_timeout=60))
    app = App(settings=Settings(storage="memory"), adapters=[adapter])
    await app.start()
    try:
        await adapter.wait_ready(timeout=5)
        fake.hold("message.create")
        sending = asyncio.ensure_future(adapter.send(TARGET, MessageChain(["hi"])))
        await fake.wait_request()
        assert adapter.api is not None and adapter.api.pending == 1
        await adapter.stop()
        with pytest.raises(AdapterConnectionError, match="stopped before"):
            await asyncio.wait_for(sending, 5)  # a guard: the answer would take 60 s
        with pytest.raises(AdapterConnectionError, match="not running"):
            await adapter.send(TARGET, MessageChain(["hi"]))
    finally:
        await app.stop()
        await fake.close()


async def test_a_missing_pong_means_a_dead_connection(logs: list[str]) -> None:
    fake = FakeSatori(answer_pings=False)
    async with connected(fake, ping_interval=0.02, pong_timeout=0.02) as (adapter, _):
        await adapter.wait_ready(timeout=5, connects=2)
        assert fake.pings >= 1
    assert any("no PONG" in line for line in logs)


async def test_pings_answered_keep_the_connection() -> None:
    fake = FakeSatori()
    async with connected(fake, ping_interval=0.01, pong_timeout=5) as (adapter, _):
        await adapter.wait_ready(timeout=5)
        await wait_for(lambda: fake.pings >= 5)
        assert adapter.socket is not None
        assert adapter.socket.connects == 1


async def test_resume_sends_the_last_sn_and_drops_what_comes_again() -> None:
    fake = FakeSatori()
    async with connected(fake) as (adapter, seen):
        await adapter.wait_ready(timeout=5)
        first = await fake.next_socket()
        await fake.send_event(message(5, "five"))
        await fake.send_event(message(6, "six"))
        await wait_for(lambda: len(seen) == 2)
        await first.close()
        await fake.next_socket()
        assert fake.identifies[-1] == {"token": TOKEN, "sn": 6, "sequence": 6}
        # The server replays too much: 5 and 6 again, then 7.
        for sn, text in ((5, "five"), (6, "six"), (7, "seven")):
            await fake.send_event(message(sn, text))
        await fake.send_event(message(8, "eight"))
        await wait_for(lambda: len(seen) == 4)
        assert [e.message_str for e in seen] == ["five", "six", "seven", "eight"]  # type: ignore[attr-defined]


async def test_direct_channels_and_logins() -> None:
    fake = FakeSatori()
    async with connected(fake) as (adapter, seen):
        await adapter.wait_ready(timeout=5)
        assert list(adapter.logins) == [BOT]
        # A user who wrote in private is answered in that channel; another gets one opened.
        await fake.send_event(message(1, "hi", channel={"id": "dm-u1", "type": 1}))
        await wait_for(lambda: len(seen) == 1)
        await adapter.send(Target("satori", BOT, user_id="u1"), MessageChain(["yo"]))
        assert fake.requests[-1].body == {"channel_id": "dm-u1", "content": "yo"}
        fake.answer("user.channel.create", 200, '{"id": "dm-u2", "type": 1}')
        await adapter.send(Target("satori", BOT, user_id="u2"), MessageChain(["yo"]))
        assert [(r.method, r.body) for r in fake.requests[-2:]] == [
            ("user.channel.create", {"user_id": "u2"}),
            ("message.create", {"channel_id": "dm-u2", "content": "yo"}),
        ]
        # With one login, a call may leave self_id out; a self_id that is no login is refused.
        assert await adapter.call("message.create", {"channel_id": "c", "content": "x"})
        with pytest.raises(AdapterConnectionError, match="not a Satori self_id"):
            await adapter.send(Target("satori", "nobody", group_id="c"), MessageChain(["x"]))
        # A login-removed event takes the login away.
        await fake.send_event(
            {"sn": 2, "type": "login-removed", "login": {"platform": "chat", "user": {"id": "bot"}}}
        )
        await wait_for(lambda: not adapter.logins)


async def test_a_frame_over_the_size_limit_costs_a_reconnect_not_an_event(logs: list[str]) -> None:
    fake = FakeSatori()
    async with connected(fake, max_message_size=4096) as (adapter, seen):
        await adapter.wait_ready(timeout=5)
        await fake.next_socket()
        await fake.send_event(message(1, "small"))
        await fake.send_event(message(2, "x" * 10_000))  # closed with 1009 by the client
        await adapter.wait_ready(timeout=5, connects=2)
        await fake.next_socket()
        # Resumed after the last event that arrived: the server may send what follows.
        assert fake.identifies[-1]["sn"] == 1
        await fake.send_event(message(3, "after"))
        await wait_for(lambda: len(seen) == 2)
        assert [e.message_str for e in seen] == ["small", "after"]  # type: ignore[attr-defined]


async def test_stop_leaves_no_task_behind() -> None:
    before = asyncio.all_tasks()
    fake = FakeSatori()
    async with connected(fake, ping_interval=0.01) as (adapter, _):
        await adapter.wait_ready(timeout=5)
        await wait_for(lambda: fake.pings >= 2)  # the pinger runs too
        fake.hold("message.create")
        sending = asyncio.ensure_future(adapter.send(TARGET, MessageChain(["hi"])))
        await fake.wait_request()
    with pytest.raises(AdapterConnectionError):
        await sending
    assert len(adapter.tasks) == 0
    assert adapter.api is not None and adapter.api.pending == 0
    assert asyncio.all_tasks() - before == set()


def test_the_reconnect_delay_doubles_up_to_its_cap_with_jitter() -> None:
    from waiter_sdk.adapters.satori.event_socket import backoff

    for attempt, full in ((1, 1.0), (2, 2.0), (3, 4.0), (7, 60.0), (10_000, 60.0)):
        delays = [backoff(attempt, 1.0, 60.0) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays), (attempt, min(delays), max(delays))
        assert len(set(delays)) > 1  # jittered: many bots do not come back in lockstep
