"""The adapter against a scripted homeserver: 429 waits, stop with sends pending, sync errors
and reconnection, bad tokens, and secrets kept out of logs and errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from waiter_sdk import App, MessageEvent, Plugin, Target, command
from waiter_sdk.adapters.matrix import MatrixAdapter, MatrixSettings
from waiter_sdk.config import Settings
from waiter_sdk.exceptions import ActionFailedError, AdapterConnectionError, ConfigError

from .fake_homeserver import TOKEN, USER, FakeHomeserver, Scripted, joined, text

ROOM = "!room:fake.test"
ANN = "@ann:fake.test"
WAIT = 10.0


class Echo(Plugin):
    name = "echo"

    @command("echo")
    async def echo(self, event: MessageEvent) -> None:
        await event.send(" ".join(event.args))


@asynccontextmanager
async def rig(
    plugins: list[Any] | tuple[Any, ...] = (), *, start_fake: bool = True, **options: Any
) -> AsyncIterator[tuple[FakeHomeserver, App, MatrixAdapter]]:
    fake = FakeHomeserver()
    if start_fake:
        await fake.start()
    values: dict[str, Any] = {
        "homeserver": fake.url,
        "access_token": TOKEN,
        "sync_timeout": 5.0,
        "reconnect_interval": 0.01,
        "reconnect_max": 0.05,
    }
    values.update(options)
    adapter = MatrixAdapter(MatrixSettings(**values))
    app = App(settings=Settings(storage="memory"), plugins=plugins, adapters=[adapter])
    try:
        await app.start()
        yield fake, app, adapter
    finally:
        await app.stop()
        await fake.stop()


async def synced(adapter: MatrixAdapter, count: int) -> None:
    """Wait until the adapter has read ``count`` sync answers."""
    await adapter.wait_synced(WAIT, count=count)


# --- rate limits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "limited",
    [
        Scripted(429, {"errcode": "M_LIMIT_EXCEEDED", "error": "slow", "retry_after_ms": 30}),
        Scripted(
            429, {"errcode": "M_LIMIT_EXCEEDED", "error": "slow"}, headers={"Retry-After": "0.03"}
        ),
    ],
    ids=["retry_after_ms", "Retry-After"],
)
async def test_a_429_is_waited_out_as_asked_and_sent_again_under_the_same_transaction(
    limited: Scripted, logs: list[str]
) -> None:
    async with rig() as (fake, _, adapter):
        fake.send_script = [limited, limited]
        event_id = await adapter.send(Target("matrix", USER, group_id=ROOM), _chain("hi"))
        assert event_id == "$ev1"
        assert len(fake.sent) == 3
        assert len({txn for _, txn, _ in fake.sent}) == 1  # one transaction, tried three times
        waits = [line for line in logs if "rate limited by the homeserver" in line]
        assert waits == ["INFO matrix send: rate limited by the homeserver; retrying in 0.03 s"] * 2


async def test_a_429_past_the_retries_or_the_longest_wait_fails_the_send() -> None:
    slow = Scripted(429, {"errcode": "M_LIMIT_EXCEEDED", "error": "x", "retry_after_ms": 10})
    async with rig(rate_limit_retries=2) as (fake, _, adapter):
        fake.send_script = [slow, slow, slow]
        with pytest.raises(ActionFailedError) as failed:
            await adapter.send(Target("matrix", USER, group_id=ROOM), _chain("hi"))
        assert failed.value.retcode == 429 and "M_LIMIT_EXCEEDED" in str(failed.value)
        assert len(fake.sent) == 3  # the first try and two retries
    async with rig(rate_limit_max_wait=5.0) as (fake, _, adapter):
        fake.send_script = [
            Scripted(429, {"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 3_600_000})
        ]
        with pytest.raises(ActionFailedError, match=r"asked to wait 3600\.00 s"):
            await adapter.send(Target("matrix", USER, group_id=ROOM), _chain("hi"))
        assert len(fake.sent) == 1  # failed at once, not after an hour


async def test_a_lost_answer_is_sent_again_and_the_homeserver_keeps_one_event() -> None:
    async with rig() as (fake, _, adapter):
        fake.send_script = [Scripted(502, {"errcode": "M_UNKNOWN", "error": "proxy"})]
        assert await adapter.send(Target("matrix", USER, group_id=ROOM), _chain("hi")) == "$ev1"
        first, again = (txn for _, txn, _ in fake.sent)
        assert first == again


# --- stopping -------------------------------------------------------------------------------


@pytest.mark.parametrize("pending", ["no answer", "a long 429 wait"])
async def test_sends_pending_at_stop_fail_at_once_with_adapter_connection_error(
    pending: str,
) -> None:
    async with rig() as (fake, app, adapter):
        fake.send_script = [
            Scripted(hang=True)
            if pending == "no answer"
            else Scripted(429, {"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 50_000})
        ]
        send = asyncio.create_task(adapter.send(Target("matrix", USER, group_id=ROOM), _chain("x")))
        await fake.wait_sent(1)
        await adapter.stop()
        with pytest.raises(AdapterConnectionError, match="stopped while the call was pending"):
            await asyncio.wait_for(send, WAIT)  # a guard: it fails at once, not in 50 s
        with pytest.raises(AdapterConnectionError, match="not running"):
            await adapter.send(Target("matrix", USER, group_id=ROOM), _chain("later"))
        del app


# --- syncing ----------------------------------------------------------------------------------


async def test_sync_errors_are_retried_with_backoff_and_nothing_is_lost(logs: list[str]) -> None:
    async with rig([Echo], user_id=USER) as (fake, _, adapter):
        await synced(adapter, 1)
        fake.queue_sync_answer(Scripted(500, {"errcode": "M_UNKNOWN", "error": "db down"}))
        fake.queue_sync_answer(Scripted(200, raw=b"<html>bad gateway</html>"))
        fake.queue_sync({"join": {ROOM: joined([text("$1", ANN, "/echo back")])}})
        await fake.wait_sent(1)
        assert fake.sent[0][2]["body"] == "back"
        failures = [line for line in logs if "sync failed" in line]
        assert len(failures) == 2
        assert "HTTP 500" in failures[0] or "M_UNKNOWN" in failures[0]
        assert "the answer is not a JSON object" in failures[1]


async def test_a_homeserver_down_at_start_is_waited_for(logs: list[str]) -> None:
    async with rig([Echo], start_fake=False) as (fake, _, adapter):
        # No user id given and nothing listening: start went on, the loop keeps asking.
        await adapter.wait_failures(2, WAIT)
        assert (
            sum("sync failed" in line and "cannot reach the homeserver" in line for line in logs)
            >= 2
        )
        await fake.start()
        await synced(adapter, 1)
        assert adapter.user_id == USER
        fake.queue_sync({"join": {ROOM: joined([text("$1", ANN, "/echo up")])}})
        await fake.wait_sent(1)
        assert fake.sent[0][2]["body"] == "up"


async def test_a_refused_token_fails_the_start_without_showing_the_token(logs: list[str]) -> None:
    with pytest.raises(ConfigError, match="refused the access token") as refused:
        async with rig(access_token="syt_wrong_SECRET_9f2e"):
            pass
    assert "syt_wrong_SECRET_9f2e" not in str(refused.value)
    assert not any("syt_wrong_SECRET_9f2e" in line for line in logs)


async def test_missing_settings_are_a_config_error_naming_them() -> None:
    adapter = MatrixAdapter(MatrixSettings())
    with pytest.raises(
        ConfigError, match=r"WAITER_MATRIX__HOMESERVER.*WAITER_MATRIX__ACCESS_TOKEN"
    ):
        await App(settings=Settings(storage="memory"), adapters=[adapter]).start()


async def test_the_access_token_never_reaches_a_log_line_or_an_error(logs: list[str]) -> None:
    async with rig([Echo]) as (fake, _, adapter):
        await synced(adapter, 1)
        # Errors that quote what the server said, with the token in it, and hostile data.
        fake.queue_sync_answer(
            Scripted(500, {"errcode": "M_UNKNOWN", "error": f"token {TOKEN} broke"})
        )
        fake.queue_sync(
            {
                "join": {
                    ROOM: joined(
                        [
                            {
                                "type": "m.room.message",
                                "event_id": "$0",
                                "sender": 7,
                                "content": {"body": TOKEN},
                            },
                            text("$1", ANN, "/echo x"),
                        ]
                    )
                }
            }
        )
        await fake.wait_sent(1)
        fake.send_script = [Scripted(403, {"errcode": "M_FORBIDDEN", "error": f"not {TOKEN}"})]
        with pytest.raises(ActionFailedError) as failed:
            await adapter.send(Target("matrix", USER, group_id=ROOM), _chain("y"))
        assert TOKEN not in str(failed.value) and "***" in str(failed.value)
        assert TOKEN not in repr(adapter.settings) and TOKEN not in adapter.describe()
    assert any("sync failed" in line for line in logs)
    assert any("dropped unreadable sync data" in line for line in logs)
    assert not any(TOKEN in line for line in logs)
    assert all(header == f"Bearer {TOKEN}" for header in fake.auth_seen)  # and only there


def _chain(text_: str) -> Any:
    from waiter_sdk import MessageChain

    return MessageChain([text_])


# --- invitations ------------------------------------------------------------------------------


def invite(room: str, inviter: str, *, direct: bool) -> dict[str, Any]:
    content: dict[str, Any] = {"membership": "invite"}
    if direct:
        content["is_direct"] = True
    event = {"type": "m.room.member", "state_key": USER, "sender": inviter, "content": content}
    return {room: {"invite_state": {"events": [event]}}}


async def test_invitations_are_joined_and_direct_ones_recorded_in_m_direct() -> None:
    async with rig() as (fake, _, adapter):
        await synced(adapter, 1)
        fake.queue_sync(
            {"invite": {**invite("!dm:x", ANN, direct=True), **invite("!g:x", ANN, direct=False)}}
        )
        async with asyncio.timeout(WAIT):
            while len(fake.joins) < 2 or "m.direct" not in fake.account_data:
                fake.changed.clear()
                await fake.changed.wait()
        assert sorted(fake.joins) == ["!dm:x", "!g:x"]
        assert fake.account_data["m.direct"] == {ANN: ["!dm:x"]}
        assert adapter.rooms.is_direct("!dm:x") and not adapter.rooms.is_direct("!g:x")


async def test_with_auto_join_off_invitations_are_only_logged(logs: list[str]) -> None:
    async with rig(auto_join=False) as (fake, _, adapter):
        await synced(adapter, 1)
        fake.queue_sync({"invite": invite("!g:x", ANN, direct=False)})
        fake.queue_sync()  # read after the invitation: by then a join would have been asked
        await synced(adapter, 3)
        assert fake.joins == []
        assert any("invited to !g:x by @ann:fake.test (auto_join is off)" in line for line in logs)
