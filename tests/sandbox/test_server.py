"""The sandbox server over real loopback sockets: page, protocol, inspector, limits, lifecycle."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import ClassVar

import aiohttp
import pytest

from waiter_sdk import (
    App,
    At,
    GroupSessionFilter,
    MessageChain,
    MessageEvent,
    Plain,
    Plugin,
    Reply,
    SessionController,
    command,
    on_message,
    session_waiter,
)
from waiter_sdk.adapters.sandbox import SandboxAdapter
from waiter_sdk.adapters.sandbox import adapter as sandbox_adapter
from waiter_sdk.adapters.sandbox import protocol as sandbox_protocol
from waiter_sdk.config import SandboxSettings, Settings
from waiter_sdk.events import Target
from waiter_sdk.exceptions import ActionFailedError, AdapterConnectionError, ConfigError

from .conftest import SandboxFactory, text_of


class Probe(Plugin):
    """Records every message that reaches plugins, and answers /hi with a quote and a mention."""

    name = "probe"
    seen: ClassVar[list[MessageEvent]] = []
    changed: ClassVar[asyncio.Event] = asyncio.Event()

    @command("hi")
    async def hi(self, event: MessageEvent):
        yield event.chain_result([Reply(event.message_id), At(event.sender_id), Plain(" hello")])

    @on_message(priority=-10)
    async def record(self, event: MessageEvent) -> None:
        Probe.seen.append(event)
        Probe.changed.set()

    @staticmethod
    async def wait_for(sender: str) -> MessageEvent:
        """The first event from ``sender`` that reached the plugins."""
        async with asyncio.timeout(3):
            while True:
                for event in Probe.seen:
                    if event.sender_id == sender:
                        return event
                Probe.changed.clear()
                await Probe.changed.wait()


class Game(Plugin):
    """A group-wide session that echoes turns; "slow" extends the deadline by 100 s."""

    name = "game"

    @command("game")
    async def game(self, event: MessageEvent):
        @session_waiter(timeout=30)
        async def turn(controller: SessionController, reply: MessageEvent) -> None:
            if reply.message_str == "slow":
                controller.keep(100, reset_timeout=True)
            await reply.send(f"turn: {reply.message_str}")

        yield event.plain_result("game on")
        try:
            await turn(event, session_filter=GroupSessionFilter())
        except TimeoutError:
            yield event.plain_result("game over")


@pytest.fixture(autouse=True)
def _clear_probe() -> None:
    Probe.seen.clear()
    Probe.changed = asyncio.Event()


async def test_page_and_assets_are_served_with_a_strict_policy(sandbox: SandboxFactory) -> None:
    sb = await sandbox()
    async with sb.http.get(sb.base) as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        html = await response.text()
        policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "<script src=" in html
    assert "<script>" not in html
    for name, kind in [("app.js", "text/javascript"), ("app.css", "text/css")]:
        async with sb.http.get(sb.base + "static/" + name) as response:
            assert response.status == 200
            assert response.content_type == kind
    async with sb.http.get(sb.base + "static/..%2Fadapter.py") as response:
        assert response.status == 404


async def test_describe_gives_the_url_with_the_real_port(sandbox: SandboxFactory) -> None:
    sb = await sandbox()
    url = sb.adapter.describe()
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/")
    assert not url.endswith(":0/")
    async with sb.http.get(url) as response:
        assert response.status == 200


async def test_snapshot_has_the_default_people_and_group(sandbox: SandboxFactory) -> None:
    sb = await sandbox()
    ws = await sb.http.ws_connect(sb.base + "ws")
    snapshot = await ws.receive_json()
    await ws.close()
    assert snapshot["type"] == "snapshot"
    assert [u["name"] for u in snapshot["users"]] == ["Alice", "Bob", "Carol"]
    assert snapshot["groups"] == [{"id": "g1", "name": "Group 1"}]
    assert snapshot["sessions"] == []
    assert snapshot["conversations"] == {}


async def test_a_typed_message_becomes_an_event_with_every_field(
    sandbox: SandboxFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox_adapter, "unix_time", lambda: 1_800_000_000.5)  # the wall clock
    sb = await sandbox(plugins=[Probe])
    page = await sb.page()
    await page.send(
        {
            "type": "send",
            "conv": "group:g1",
            "sender": "bob",
            "parts": [
                {"type": "at", "user_id": "bot"},
                {"type": "text", "text": " look"},
                {"type": "image", "url": "https://example.org/a.png"},
            ],
        }
    )
    shown = await page.message_from("bob")
    event = await Probe.wait_for("bob")
    assert (event.platform, event.self_id, event.group_id) == ("sandbox", "bot", "g1")
    assert (event.sender_id, event.sender_name, event.message_id) == ("bob", "Bob", shown["id"])
    assert event.to_me
    assert event.timestamp == 1_800_000_000.5  # Unix time, as on every platform
    assert event.message_str == " look"
    assert [c.type for c in event.message] == ["at", "text", "image"]
    assert [p["type"] for p in shown["parts"]] == ["at", "text", "image"]

    await page.say("carol", "psst", conv="private:carol", reply_to=None)
    await page.message_from("carol")
    private = await Probe.wait_for("carol")
    assert private.group_id is None
    assert private.is_private
    assert private.to_me


async def test_a_bot_reply_carries_its_quote_and_mention(sandbox: SandboxFactory) -> None:
    sb = await sandbox(plugins=[Probe])
    page = await sb.page()
    other = await sb.page()
    await page.say("alice", "/hi")
    asked = await page.message_from("alice")
    reply = await page.message_from("bot")
    assert reply["quote"]["id"] == asked["id"]
    assert reply["quote"]["sender_name"] == "Alice"
    assert reply["quote"]["text"] == "/hi"
    assert reply["parts"] == [
        {"type": "at", "user_id": "alice", "name": "Alice"},
        {"type": "text", "text": " hello"},
    ]
    # Every open page sees it, and the log tells what went in and out.
    assert (await other.message_from("bot"))["id"] == reply["id"]
    log = await other.expect("log", lambda f: f["entry"]["dir"] == "out")
    assert "hello" in log["entry"]["text"]


async def test_quoting_a_bot_message_reaches_the_plugin_as_reply_to(
    sandbox: SandboxFactory,
) -> None:
    sb = await sandbox(plugins=[Probe])
    page = await sb.page()
    await page.say("alice", "/hi")
    reply = await page.message_from("bot")
    await page.say("bob", "answer", reply_to=reply["id"])
    shown = await page.message_from("bob")
    assert shown["quote"]["id"] == reply["id"]
    event = await Probe.wait_for("bob")
    assert event.reply_to == reply["id"]
    assert event.to_me
    assert isinstance(event.message[0], Reply)


async def test_the_inspector_shows_a_session_and_closes_it(sandbox: SandboxFactory) -> None:
    sb = await sandbox(plugins=[Game])
    page = await sb.page()
    await page.say("alice", "/game")
    frame = await page.expect("sessions", lambda f: len(f["sessions"]) == 1)
    row = frame["sessions"][0]
    assert (row["plugin"], row["filter"], row["conv"]) == ("game", "GroupSessionFilter", "group:g1")
    assert row["where"] == "Group 1"
    assert row["opened_by"] == "Alice"
    assert 0 < row["remaining"] <= 30
    assert row["queued"] == 0

    await page.say("bob", "slow")  # keep(100) moves the deadline; the page learns it
    moved = await page.expect("sessions", lambda f: f["sessions"][0]["remaining"] > 30)
    assert moved["sessions"][0]["history_length"] == 0

    await page.send({"type": "close_session", "key": row["key"]})
    ended = await page.expect("session_ended")
    assert ended["session"]["reason"] == "cancelled"
    assert ended["session"]["key"] == row["key"]
    await page.expect("sessions", lambda f: f["sessions"] == [])
    assert len(sb.app.sessions) == 0

    await page.send({"type": "close_session", "key": row["key"]})
    error = await page.expect("error")
    assert "no open session" in error["message"]


async def test_a_page_that_connects_late_sees_open_and_recently_ended_sessions(
    sandbox: SandboxFactory,
) -> None:
    sb = await sandbox(plugins=[Game])
    page = await sb.page()
    await page.say("alice", "/game")
    await page.expect("sessions", lambda f: len(f["sessions"]) == 1)
    late = await sb.page()
    snapshot = late.seen[0]
    assert [s["plugin"] for s in snapshot["sessions"]] == ["game"]
    await sb.app.sessions.close(snapshot["sessions"][0]["key"])
    third = await sb.page()
    assert [s["reason"] for s in third.seen[0]["ended"]] == ["cancelled"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"type": "dance"}', "type"),
        ('{"type": "send", "conv": "group:g1", "sender": "alice", "parts": []}', "parts"),
        (
            '{"type": "send", "conv": "lobby", "sender": "alice", "parts": [{"type": "text", '
            '"text": "x"}]}',
            "conv",
        ),
        (
            '{"type": "send", "conv": "group:g9", "sender": "alice", "parts": [{"type": "text", '
            '"text": "x"}]}',
            "no conversation",
        ),
        (
            '{"type": "send", "conv": "private:bob", "sender": "alice", "parts": [{"type": "text", '
            '"text": "x"}]}',
            "private chat",
        ),
        (
            '{"type": "send", "conv": "group:g1", "sender": "mallory", "parts": [{"type": "text", '
            '"text": "x"}]}',
            "no user",
        ),
        (
            '{"type": "send", "conv": "group:g1", "sender": "alice", "reply_to": "999", "parts": '
            '[{"type": "text", "text": "x"}]}',
            "not in this conversation",
        ),
        (
            '{"type": "send", "conv": "group:g1", "sender": "alice", "parts": [{"type": "image", '
            '"url": "javascript:alert(1)"}]}',
            "url",
        ),
        ('{"type": "add_user", "name": "Bob"}', "already taken"),
        ('{"type": "add_user", "name": "   "}', "visible character"),
        ('{"type": "rename_user", "user_id": "bob", "name": "Bot"}', "reserved"),
    ],
)
async def test_a_bad_frame_gets_an_error_and_the_page_stays_connected(
    sandbox: SandboxFactory, raw: str, reason: str
) -> None:
    sb = await sandbox()
    page = await sb.page()
    await page.ws.send_str(raw)
    error = await page.expect("error")
    assert reason in error["message"]
    await page.say("alice", "still here")
    assert text_of(await page.message_from("alice")) == "still here"


async def test_a_bad_frame_is_logged_in_one_short_line(
    sandbox: SandboxFactory, logs: list[str]
) -> None:
    sb = await sandbox()
    page = await sb.page()
    await page.ws.send_str('{"type": "send", "conv": "' + "x" * 5000 + '"}')
    await page.expect("error")
    refused = [line for line in logs if "bad frame" in line]
    assert len(refused) == 1
    assert len(refused[0]) < 400


async def test_binary_and_oversized_frames_never_crash_the_server(
    sandbox: SandboxFactory,
) -> None:
    sb = await sandbox()
    page = await sb.page()
    await page.ws.send_bytes(b"\x00\x01")
    assert "binary" in (await page.expect("error"))["message"]
    bystander = await sb.page()
    # Over the frame limit: refused in a sentence, and the page stays connected (issue 15.4).
    await page.ws.send_str("x" * (70 * 1024))
    assert "too big to send" in (await page.expect("error"))["message"]
    await page.say("alice", "still here")
    assert text_of(await page.message_from("alice")) == "still here"
    # Over the socket's own limit (which the page never sends): the socket closes, and only it.
    await page.ws.send_str("x" * (sandbox_protocol.MAX_SOCKET_BYTES + 1))
    message = await page.ws.receive(timeout=3)
    while message.type is aiohttp.WSMsgType.TEXT:
        message = await page.ws.receive(timeout=3)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert page.ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    await bystander.say("bob", "fine")
    assert text_of(await bystander.message_from("bob")) == "fine"


async def test_history_is_bounded_per_conversation_and_replayed(sandbox: SandboxFactory) -> None:
    sb = await sandbox(history_limit=5)
    page = await sb.page()
    for n in range(8):
        await page.say("alice", f"m{n}")
        await page.message_from("alice")
    await page.say("bob", "private", conv="private:bob")
    await page.message_from("bob")
    fresh = await sb.page()
    conversations = fresh.seen[0]["conversations"]
    assert [text_of(r) for r in conversations["group:g1"]] == ["m3", "m4", "m5", "m6", "m7"]
    assert [text_of(r) for r in conversations["private:bob"]] == ["private"]
    # An evicted message can no longer be quoted.
    await page.say("alice", "late", reply_to="1")
    assert "not in this conversation" in (await page.expect("error"))["message"]


async def test_users_and_groups_can_be_added_renamed_and_restored(
    sandbox: SandboxFactory,
) -> None:
    sb = await sandbox(plugins=[Probe])
    page = await sb.page()
    await page.send({"type": "add_user", "name": "Dave Smith"})
    users = (await page.expect("users"))["users"]
    assert users[-1] == {"id": "davesmith", "name": "Dave Smith", "role": "member"}
    await page.send({"type": "rename_user", "user_id": "bob", "name": "Robert"})
    users = (await page.expect("users"))["users"]
    assert {"id": "bob", "name": "Robert", "role": "member"} in users
    await page.send({"type": "add_group", "name": "Night owls"})
    assert (await page.expect("groups"))["groups"][-1] == {"id": "g2", "name": "Night owls"}

    await page.say("davesmith", "hi from g2", conv="group:g2")
    shown = await page.message_from("davesmith")
    assert shown["sender_name"] == "Dave Smith"
    await page.send(
        {
            "type": "restore",
            "users": [{"id": "erin", "name": "Erin"}, {"id": "zed", "name": "Robert"}],
            "groups": [{"id": "g7", "name": "Old"}],
        }
    )
    users = (await page.expect("users"))["users"]
    assert {"id": "erin", "name": "Erin", "role": "member"} in users
    assert all(u["id"] != "zed" for u in users)  # its name is taken now: skipped, not an error
    assert {"id": "g7", "name": "Old"} in (await page.expect("groups"))["groups"]


async def test_sending_to_an_unknown_conversation_fails_clearly(sandbox: SandboxFactory) -> None:
    sb = await sandbox()
    with pytest.raises(ActionFailedError, match="no conversation 'group:nope'"):
        await sb.app.send(Target("sandbox", "bot", group_id="nope"), "hello")
    message_id = await sb.app.send(Target("sandbox", "bot", user_id="carol"), "hello Carol")
    assert sb.adapter.state.get(message_id) is not None


async def test_a_token_guards_the_page_and_the_websocket(sandbox: SandboxFactory) -> None:
    sb = await sandbox(settings=SandboxSettings(port=0, token="s3cret t0ken"))
    assert "s3cret" not in sb.adapter.describe()
    assert sb.adapter.url.endswith("?token=s3cret%20t0ken")
    async with sb.http.get(sb.base) as response:
        assert response.status == 401
    async with sb.http.get(sb.base, params={"token": "wrong"}) as response:
        assert response.status == 403
    async with sb.http.get(sb.adapter.url) as response:
        assert response.status == 200
    for params, status in [({}, 401), ({"token": "wrong"}, 403)]:
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await sb.http.ws_connect(sb.base + "ws", params=params)
        assert caught.value.status == status
    page = await sb.page(params={"token": "s3cret t0ken"})
    await page.ws.close()
    bearer = await sb.page(headers={"Authorization": "Bearer s3cret t0ken"})
    await bearer.ws.close()


async def test_another_sites_page_cannot_open_the_websocket(sandbox: SandboxFactory) -> None:
    sb = await sandbox()
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await sb.http.ws_connect(sb.base + "ws", origin="http://evil.example")
    assert caught.value.status == 403
    own = sb.base.rstrip("/")
    page = await sb.page(origin=own)
    await page.ws.close()


async def test_a_rebound_host_name_is_refused_without_a_token(sandbox: SandboxFactory) -> None:
    sb = await sandbox()
    port = sb.base.rsplit(":", 1)[1].strip("/")
    async with sb.http.get(sb.base, headers={"Host": f"evil.example:{port}"}) as response:
        assert response.status == 403
    async with sb.http.get(sb.base, headers={"Host": f"localhost:{port}"}) as response:
        assert response.status == 200


async def test_a_public_bind_without_a_token_fails_at_start() -> None:
    app = App(
        settings=Settings.load(),
        adapters=[SandboxAdapter(SandboxSettings(host="0.0.0.0", port=0))],
    )
    with pytest.raises(ConfigError, match=r"sandbox\.token"):
        await app.start()
    empty = App(
        settings=Settings.load(),
        adapters=[SandboxAdapter(SandboxSettings(host="0.0.0.0", port=0, token=""))],
    )
    with pytest.raises(ConfigError, match="WAITER_SANDBOX__TOKEN"):
        await empty.start()


async def test_a_public_bind_with_a_token_starts(sandbox: SandboxFactory) -> None:
    sb = await sandbox(settings=SandboxSettings(host="0.0.0.0", port=0, token="t"))
    assert sb.adapter.describe().startswith("http://0.0.0.0:")


async def test_no_settings_means_the_apps_sandbox_settings() -> None:
    adapter = SandboxAdapter()
    settings = Settings.load(sandbox={"port": 0, "token": "from-app"})
    async with App(settings=settings, adapters=[adapter]):
        assert adapter.url.endswith("?token=from-app")
        assert not adapter.url.startswith("http://127.0.0.1:0/")


async def test_a_busy_port_is_reported_with_the_setting_to_change(
    sandbox: SandboxFactory,
) -> None:
    sb = await sandbox()
    port = int(sb.base.rsplit(":", 1)[1].strip("/"))
    app = App(settings=Settings.load(), adapters=[SandboxAdapter(SandboxSettings(port=port))])
    with pytest.raises(AdapterConnectionError, match=r"sandbox\.port"):
        await app.start()


async def test_stop_closes_pages_and_leaves_no_task_behind(sandbox: SandboxFactory) -> None:
    sb = await sandbox(plugins=[Game])
    page = await sb.page()
    await page.say("alice", "/game")
    await page.expect("sessions", lambda f: len(f["sessions"]) == 1)
    await sb.app.stop()
    ended = await page.expect("session_ended")  # what was queued is flushed before closing
    assert ended["session"]["reason"] == "shutdown"
    while (message := await page.ws.receive(timeout=3)).type is aiohttp.WSMsgType.TEXT:
        pass
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert leftover == []
    with pytest.raises(AdapterConnectionError):
        await sb.adapter.send(Target("sandbox", "bot", group_id="g1"), MessageChain(["late"]))


def test_importing_waiter_sdk_does_not_import_aiohttp() -> None:
    code = "import sys, waiter_sdk; assert 'aiohttp' not in sys.modules, 'aiohttp imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
