"""Issue 15 over the wire: a truthful inspector (items 1, 2) and no lost input (item 4).

The page's own half (countdown text, links, the counter, sessionStorage) is in
tests/e2e/test_sandbox_issue_15.py; these check what the server tells every page.
"""

from __future__ import annotations

import json

from example_plugins.login import Login
from waiter_sdk.adapters.sandbox import protocol as p

from .conftest import Frame, SandboxFactory, text_of


class StepLogin(Login):
    """The example login with a step timeout that a test can wait for."""

    step_timeout = 0.6


class SlowLogin(Login):
    step_timeout = 20.0


def only(frame: Frame) -> Frame:
    (row,) = frame["sessions"]
    return row


async def test_a_login_opened_in_a_group_is_shown_where_it_listens_with_its_step_deadline(
    sandbox: SandboxFactory,
) -> None:
    sb = await sandbox(plugins=[SlowLogin])
    page = await sb.page()
    await page.say("carol", "/login")  # in Group 1
    row = only(await page.expect("sessions", lambda f: len(f["sessions"]) == 1))
    # Opened in Group 1, but it listens only in Carol's private chat.
    assert (row["conv"], row["where"], row["opened_by"]) == ("group:g1", "Group 1", "Carol")
    assert row["chats"] == [{"conv": "private:carol", "label": "Carol (private)"}]
    # The deadline that will fire: the question's 20 s, not a year, and the bar spans it.
    assert 19 < row["remaining"] <= 20
    assert 19 < row["span"] <= 20

    await page.say("carol", "alice", conv="private:carol")
    await page.message_from("bot")
    moved = only(await page.expect("sessions", lambda f: f["sessions"][0]["span"] is not None))
    assert 19 < moved["span"] <= 20


async def test_a_timed_out_login_ends_as_timeout_where_it_listened(
    sandbox: SandboxFactory,
) -> None:
    sb = await sandbox(plugins=[StepLogin])
    page = await sb.page()
    await page.say("carol", "/login", conv="private:carol")
    await page.expect("sessions", lambda f: len(f["sessions"]) == 1)
    ended = await page.expect("session_ended", within=3)
    assert ended["session"]["reason"] == "timeout"
    assert ended["session"]["chats"] == [{"conv": "private:carol", "label": "Carol (private)"}]
    log = await page.expect("log", lambda f: "ended login" in f["entry"]["text"])
    assert log["entry"]["text"] == "ended login in Carol (private): timeout"


async def test_a_message_over_the_limit_is_refused_in_a_sentence_naming_its_ref(
    sandbox: SandboxFactory,
) -> None:
    sb = await sandbox()
    page = await sb.page()
    frame: Frame = {
        "type": "send",
        "conv": "group:g1",
        "sender": "alice",
        "parts": [{"type": "text", "text": "长" * (p.MAX_TEXT + 1)}],
        "ref": "tab1-7",
    }
    await page.send(frame)
    error = await page.expect("error")
    assert error == {
        "type": "error",
        "message": "This message has 4,001 characters; the limit is 4,000. "
        "Shorten it and send it again.",
        "ref": "tab1-7",
    }
    # A frame over the frame limit is answered the same way; the socket stays open.
    frame["parts"] = [{"type": "text", "text": "x" * (p.MAX_FRAME_BYTES + 10)}]
    await page.ws.send_str(json.dumps(frame))
    error = await page.expect("error")
    assert error["ref"] == "tab1-7"
    assert error["message"].startswith(
        "This message is too big to send (65 KB; the limit is 64 KB)"
    )
    # A message the server takes carries its ref back to the page that sent it.
    frame["parts"] = [{"type": "text", "text": "ok"}]
    await page.send(frame)
    shown = await page.expect("message")
    assert shown["ref"] == "tab1-7"
    assert text_of(shown["message"]) == "ok"


async def test_a_refusal_after_parsing_names_the_ref_too(sandbox: SandboxFactory) -> None:
    sb = await sandbox()
    page = await sb.page()
    await page.send(
        {
            "type": "send",
            "conv": "group:g1",
            "sender": "alice",
            "parts": [{"type": "text", "text": "x"}],
            "reply_to": "999",
            "ref": "r-1",
        }
    )
    error = await page.expect("error")
    assert error["ref"] == "r-1"


async def test_the_snapshot_tells_the_page_every_limit(sandbox: SandboxFactory) -> None:
    sb = await sandbox()
    page = await sb.page()
    assert page.seen[0]["limits"] == {
        "text": p.MAX_TEXT,
        "parts": p.MAX_PARTS,
        "frame": p.MAX_FRAME_BYTES,
    }
