"""Issue 15 items 5 to 8 over the wire: system lines, "Expire now", commands and roles.

The page's half is in tests/e2e/test_sandbox_issue_15_rest.py.
"""

from __future__ import annotations

from example_plugins.guess_number import GuessNumber
from example_plugins.quiz import Quiz
from waiter_sdk import MessageEvent, Plugin, command
from waiter_sdk.adapters.sandbox.commands import arguments_of

from .conftest import SandboxFactory


class Fixed(GuessNumber):
    def secret(self) -> int:
        return 42


class WhoAmI(Plugin):
    name = "whoami"

    @command("role", description="Say your role: /role [anything]")
    async def role(self, event: MessageEvent) -> None:
        await event.send(f"you are {event.sender_role}")


def system(frame: dict[str, object]) -> bool:
    return bool(frame["message"].get("system"))  # type: ignore[attr-defined]


async def test_close_puts_a_system_line_in_the_chat_then_the_plugin_says_so(
    sandbox: SandboxFactory,
) -> None:
    sb = await sandbox(plugins=[Fixed])
    page = await sb.page()
    await page.say("alice", "/guess")
    row = (await page.expect("sessions", lambda f: len(f["sessions"]) == 1))["sessions"][0]
    await page.send({"type": "close_session", "key": row["key"]})
    line = (await page.expect("message", system))["message"]
    assert line["conv"] == "group:g1"
    assert line["parts"][0]["text"] == "Session guess_number was closed from the session inspector."
    bot = await page.message_from("bot")
    assert bot["parts"][0]["text"] == "Your game was closed. The number was 42."
    # A page that connects later sees the line too.
    later = await sb.page()
    assert any(r.get("system") for r in later.seen[0]["conversations"]["group:g1"])


async def test_expire_now_fires_the_timeout_and_says_so(sandbox: SandboxFactory) -> None:
    sb = await sandbox(plugins=[Fixed])
    page = await sb.page()
    await page.say("alice", "/guess")
    row = (await page.expect("sessions", lambda f: len(f["sessions"]) == 1))["sessions"][0]
    await page.send({"type": "expire_session", "key": row["key"]})
    ended = await page.expect("session_ended")
    assert ended["session"]["reason"] == "timeout"
    line = (await page.expect("message", system))["message"]
    assert "Expire now" in line["parts"][0]["text"]
    bot = await page.message_from("bot")
    assert bot["parts"][0]["text"] == "⏰ Time's up! The number was 42."
    await page.send({"type": "expire_session", "key": row["key"]})
    assert "no open session" in (await page.expect("error"))["message"]


async def test_the_snapshot_lists_the_commands_with_their_arguments(
    sandbox: SandboxFactory,
) -> None:
    sb = await sandbox(plugins=[Quiz])
    page = await sb.page()
    rows = {row["name"]: row for row in page.seen[0]["commands"]}
    assert rows["help"]["aliases"] == ["帮助"] and rows["help"]["plugin"] == "builtin"
    assert rows["quiz"] == {
        "name": "quiz",
        "aliases": [],
        "prefix": "/",
        "plugin": "quiz",
        "description": rows["quiz"]["description"],
        "args": "[topic]",
    }
    assert arguments_of("idiom-chain", "Start: /idiom-chain [pinyin] [first idiom].") == (
        "[pinyin] [first idiom]"
    )
    assert arguments_of("x", "No arguments here") == ""


async def test_a_role_set_in_the_page_reaches_the_plugin(sandbox: SandboxFactory) -> None:
    sb = await sandbox(plugins=[WhoAmI])
    page = await sb.page()
    await page.say("bob", "/role")
    assert (await page.message_from("bot"))["parts"][0]["text"] == "you are member"
    await page.send({"type": "set_role", "user_id": "bob", "role": "admin"})
    users = (await page.expect("users"))["users"]
    assert {"id": "bob", "name": "Bob", "role": "admin"} in users
    await page.say("bob", "/role")
    assert (await page.message_from("bot"))["parts"][0]["text"] == "you are admin"
    logged = [f["entry"]["text"] for f in page.seen if f["type"] == "log"]
    assert "Group 1 · Bob (admin): /role" in logged
    await page.send({"type": "set_role", "user_id": "bob", "role": "king"})
    assert "role" in (await page.expect("error"))["message"]


async def test_the_log_shows_mentions_and_keeps_long_messages(sandbox: SandboxFactory) -> None:
    sb = await sandbox()
    page = await sb.page()
    long = "x" * 1000
    await page.send(
        {
            "type": "send",
            "conv": "group:g1",
            "sender": "alice",
            "parts": [{"type": "at", "user_id": "bob"}, {"type": "text", "text": " " + long}],
        }
    )
    log = await page.expect("log", lambda f: f["entry"]["dir"] == "in")
    assert log["entry"]["text"] == "Group 1 · Alice: @Bob " + long
