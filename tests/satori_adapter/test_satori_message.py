"""Satori element strings to components and back, and event bodies to SDK events."""

from __future__ import annotations

from typing import Any

import pytest

from waiter_sdk import At, AtAll, Face, Image, MessageChain, MessageEvent, Plain, Reply
from waiter_sdk.adapters.satori import chain_text, from_content, parse_event, to_content
from waiter_sdk.adapters.satori.elements import Element, parse, render
from waiter_sdk.events import MetaEvent, NoticeEvent, RequestEvent, Segment
from waiter_sdk.exceptions import EventError


@pytest.mark.parametrize(
    ("content", "chain"),
    [
        ("hi", [Plain("hi")]),
        ('<at id="42"/>', [At("42")]),
        ('<at id="42" name="Al"/>', [At("42", "Al")]),
        ('<at type="all"/>', [AtAll()]),
        ('<quote id="m1"/>ok', [Reply("m1"), Plain("ok")]),
        ('<img src="https://example.org/a.png"/>', [Image("https://example.org/a.png")]),
        ('<face id="178"/>', [Face("178")]),
        ('a &amp; b &lt;c&gt; "d"', [Plain('a & b <c> "d"')]),
        # Unknown, and known with more than our component holds: kept as they came.
        (
            '<audio src="a.ogg" duration="3"/>',
            [Segment("audio", {"src": "a.ogg", "duration": "3"})],
        ),
        ('<video src="v.mp4"/>', [Segment("video", {"src": "v.mp4"})]),
        ('<file src="f.zip" title="F"/>', [Segment("file", {"src": "f.zip", "title": "F"})]),
        ('<at type="here"/>', [Segment("at", {"type": "here"})]),
        ('<img src="a.png" width="10"/>', [Segment("img", {"src": "a.png", "width": "10"})]),
        ('<sharp id="c1"/>', [Segment("sharp", {"id": "c1"})]),
        ('<button id="b" no-disabled/>', [Segment("button", {"id": "b", "disabled": False})]),
        ("<b>bold</b>", [Segment("b", {"children": MessageChain([Plain("bold")])})]),
        (
            '<message forward><message id="1"/></message>',
            [
                Segment(
                    "message",
                    {"forward": True, "children": MessageChain([Segment("message", {"id": "1"})])},
                )
            ],
        ),
    ],
)
def test_elements_both_ways(content: str, chain: list[Any]) -> None:
    assert list(from_content(content)) == chain
    assert to_content(MessageChain(chain)) == content


def test_what_the_protocol_page_says_about_text() -> None:
    # Unpaired tags are text; comments are dropped; a whitespace run holding a line break at
    # either end of a text run is dropped.
    assert list(from_content("<tag>\n  <foo> bar\n  <!-- comment -->\n</tag>")) == [
        Segment("tag", {"children": MessageChain([Plain("<foo> bar")])})
    ]
    assert list(from_content("x</b>y <b>z")) == [Plain("x</b>y <b>z")]
    assert list(from_content("a<br/>b")) == [Plain("a\nb")]
    assert list(from_content("&quot;&#39;&#x27;&#X27;&apos;")) == [Plain("\"''''")]
    # References that name no character stay as written.
    assert list(from_content("&#0;&#xD800;&#99999999;&nope;")) == [
        Plain("&#0;&#xD800;&#99999999;&nope;")
    ]
    # Line breaks we send at either end survive the receiver's trimming.
    assert to_content(MessageChain(["\nhi\n"])) == "&#10;hi&#10;"
    assert list(from_content(to_content(MessageChain(["\nhi\n"])))) == [Plain("\nhi\n")]


def test_a_reply_goes_first_and_reply_to_adds_one() -> None:
    assert to_content(MessageChain(["hi", Reply("7")])) == '<quote id="7"/>hi'
    assert to_content(MessageChain(["hi"]), reply_to="9") == '<quote id="9"/>hi'
    assert to_content(MessageChain([Reply("7"), "hi"]), reply_to="9") == '<quote id="7"/>hi'


def test_images_and_what_cannot_be_sent(tmp_path: Any) -> None:
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    assert to_content(MessageChain([Image("base64://" + png)])) == (
        f'<img src="data:image/png;base64,{png}"/>'
    )
    local = tmp_path / "a b.png"
    local.write_bytes(b"x")
    assert to_content(MessageChain([Image(str(local))])) == f'<img src="{local.as_uri()}"/>'
    with pytest.raises(TypeError, match="not an element name"):
        to_content(MessageChain([Segment("bad name", {})]))
    with pytest.raises(TypeError, match="attribute"):
        to_content(MessageChain([Segment("x", {"a": {"nested": 1}})]))


def test_text_counts_what_the_sender_wrote() -> None:
    chain = from_content('<quote id="1"><author id="u"/>old</quote><b>new</b> <i>words</i>')
    assert chain_text(chain) == "new words"


def test_render_refuses_what_cannot_be_written() -> None:
    with pytest.raises(ValueError, match="element name"):
        render([Element("1x")])
    assert parse(render([Element("a", (("k", 'v"<&>'),))])) == [Element("a", (("k", 'v"<&>'),))]


# --- events ------------------------------------------------------------------------------------

LOGIN = {"platform": "discord", "user": {"id": "bot1"}}


def message_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sn": 3,
        "type": "message-created",
        "timestamp": 1_700_000_000_000,
        "login": LOGIN,
        "channel": {"id": "c1", "type": 0},
        "guild": {"id": "g1"},
        "user": {"id": "u1", "name": "alice", "nick": "Alice"},
        "member": {"nick": "Al", "roles": [{"id": "r", "name": "Admin"}]},
        "message": {"id": "m1", "content": "hi"},
    }
    body.update(overrides)
    return body


def test_a_group_message() -> None:
    event = parse_event(message_body())
    assert isinstance(event, MessageEvent)
    assert (event.platform, event.self_id, event.group_id, event.sender_id) == (
        "satori",
        "discord:bot1",
        "c1",
        "u1",
    )
    assert (event.message_id, event.message_str, event.sender_name, event.sender_role) == (
        "m1",
        "hi",
        "Al",
        "admin",
    )
    assert event.timestamp == 1_700_000_000.0
    assert event.unified_msg_origin == "satori:GroupMessage:c1"
    assert not event.to_me


def test_a_direct_message_and_resource_promotion() -> None:
    body = message_body(channel=None, guild=None, member=None, user=None)
    body["message"] = {
        "id": "m2",
        "content": "yo",
        "channel": {"id": "private:u1", "type": 1},
        "user": {"id": "u1", "name": "alice"},
    }
    event = parse_event(body)
    assert isinstance(event, MessageEvent)
    assert (event.group_id, event.is_private, event.to_me, event.sender_name) == (
        None,
        True,
        True,
        "alice",
    )
    assert event.target.user_id == "u1"


def test_quotes_and_mentions() -> None:
    event = parse_event(
        message_body(message={"id": "m", "content": '<quote id="q1"/><at id="bot1"/> /help'})
    )
    assert isinstance(event, MessageEvent)
    assert (event.reply_to, event.to_me, event.message_str) == ("q1", True, "/help")
    legacy = parse_event(message_body(message={"id": "m", "content": "x", "quote": {"id": "q2"}}))
    assert isinstance(legacy, MessageEvent)
    assert legacy.reply_to == "q2"


def test_the_bots_own_message_is_dropped() -> None:
    assert parse_event(message_body(user={"id": "bot1"})) is None
    assert isinstance(parse_event(message_body(user={"id": "bot1"}), drop_self=False), MessageEvent)


def test_other_events() -> None:
    notice = parse_event(
        {"type": "guild-member-added", "login": LOGIN, "guild": {"id": "g"}, "user": {"id": "u"}}
    )
    assert isinstance(notice, NoticeEvent)
    assert (notice.type, notice.group_id, notice.user_id) == ("guild-member-added", "g", "u")
    request = parse_event(
        {
            "type": "friend-request",
            "login": LOGIN,
            "user": {"id": "u"},
            "message": {"id": "req-1", "content": "hello"},
        }
    )
    assert isinstance(request, RequestEvent)
    assert (request.flag, request.comment) == ("req-1", "hello")
    meta = parse_event({"type": "login-updated", "login": {**LOGIN, "status": 1}})
    assert isinstance(meta, MetaEvent)
    # Before protocol 1.1: platform and self_id on the event.
    old = parse_event({"type": "x", "platform": "qq", "self_id": 7})
    assert old is not None
    assert old.self_id == "qq:7"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"type": "message-created"}, "login"),
        ({"type": "message-created", "login": LOGIN}, "message"),
        (message_body(channel=None, message={"id": "m", "content": "x"}), "channel"),
        (message_body(user=None, member=None), "author"),
        (message_body(message={"id": "m", "content": ["x"]}), "content"),
        (message_body(login={"platform": "p", "user": {"id": {"deep": [1]}}}), "login.user.id"),
        (message_body(channel={"id": "c", "type": [0]}), "channel.type"),
        (message_body(message=[1]), "message"),
        ({"type": [1]}, "type"),
    ],
)
def test_unreadable_bodies_are_event_errors(body: dict[str, Any], why: str) -> None:
    with pytest.raises(EventError, match=why.replace(".", r"\.")):
        parse_event(body)
