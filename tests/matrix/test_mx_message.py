"""Matrix message content to components and back, without a server."""

from __future__ import annotations

import pytest

from waiter_sdk import At, AtAll, Face, Image, MessageChain, Plain, Reply, Segment
from waiter_sdk.adapters.matrix import Rooms, parse_message, read_content, render
from waiter_sdk.adapters.matrix.message import Upload

BOT = "@bot:example.org"
ANN = "@ann:example.org"
BEN = "@ben:example.org"
ROOM = "!r:example.org"


def test_a_reply_loses_its_fallback_in_body_and_in_formatted_body() -> None:
    body = "> <@ann:example.org> What is 6 × 7?\n> second line\n\n42"
    read = read_content(
        {"msgtype": "m.text", "body": body, "m.relates_to": {"m.in_reply_to": {"event_id": "$q"}}},
        BOT,
    )
    assert (read.text, read.reply_to) == ("42", "$q")
    html = (
        '<mx-reply><blockquote><a href="https://matrix.to/#/!r/$q">In reply to</a> '
        '<a href="https://matrix.to/#/@ann:example.org">Ann</a><br>What?</blockquote></mx-reply>'
        "forty &amp; two"
    )
    read = read_content(
        {
            "msgtype": "m.text",
            "body": "> <@ann:example.org> What?\n\nforty & two",
            "format": "org.matrix.custom.html",
            "formatted_body": html,
            "m.relates_to": {"m.in_reply_to": {"event_id": "$q"}},
        },
        BOT,
    )
    assert read.text == "forty & two"
    assert read.chain == MessageChain([Reply("$q"), Plain("forty & two")])


def test_a_body_without_a_reply_keeps_its_quote_lines() -> None:
    read = read_content({"msgtype": "m.text", "body": "> quoted\n\nmine"}, BOT)
    assert read.text == "> quoted\n\nmine"


def test_pills_become_mentions_with_their_names_and_address_the_bot() -> None:
    read = read_content(
        {
            "msgtype": "m.text",
            "body": "Bot: /help me",
            "format": "org.matrix.custom.html",
            "formatted_body": '<a href="https://matrix.to/#/%40bot%3Aexample.org">Bot</a>: /help me',
        },
        BOT,
    )
    assert read.chain == MessageChain([At(BOT, "Bot"), Plain(": /help me")])
    assert read.mentioned
    rooms = Rooms(BOT)
    for user in (BOT, ANN, BEN):
        rooms.apply_state(
            ROOM, {"type": "m.room.member", "state_key": user, "content": {"membership": "join"}}
        )
    event = parse_message(
        ROOM,
        {
            "type": "m.room.message",
            "event_id": "$1",
            "sender": ANN,
            "content": {
                "msgtype": "m.text",
                "body": "Bot: /help me",
                "format": "org.matrix.custom.html",
                "formatted_body": f'<a href="https://matrix.to/#/{BOT}">Bot</a>: /help me',
            },
        },
        rooms,
    )
    assert event is not None
    assert (event.to_me, event.message_str, event.group_id) == (True, "/help me", ROOM)


def test_bare_ids_and_m_mentions_are_mentions_too() -> None:
    read = read_content(
        {
            "msgtype": "m.text",
            "body": "ask @ben:example.org, not ann@example.org",
            "m.mentions": {"user_ids": [BEN, BOT], "room": True},
        },
        BOT,
    )
    assert read.chain == MessageChain(
        [Plain("ask "), At(BEN), Plain(", not ann@example.org"), At(BOT), AtAll()]
    )
    assert read.mentioned and read.text == "ask , not ann@example.org"


def test_media_and_other_msgtypes() -> None:
    image = read_content({"msgtype": "m.image", "body": "cat.png", "url": "mxc://s/abc"}, BOT)
    assert image.chain == MessageChain([Image("mxc://s/abc")]) and image.text == ""
    file = read_content({"msgtype": "m.file", "body": "a.pdf", "url": "mxc://s/f"}, BOT)
    assert file.chain == MessageChain([Segment("m.file", {"url": "mxc://s/f", "body": "a.pdf"})])
    emote = read_content({"msgtype": "m.emote", "body": "waves"}, BOT)
    assert emote.text == "waves"
    odd = read_content({"msgtype": "m.location", "body": "/cmd hidden"}, BOT)
    assert odd.text == ""  # a command cannot hide in a type the bot does not read as text


def test_the_bots_own_messages_edits_and_redactions_are_dropped() -> None:
    rooms = Rooms(BOT)

    def message(sender: str, content: dict) -> object:
        return parse_message(
            ROOM,
            {"type": "m.room.message", "event_id": "$e", "sender": sender, "content": content},
            rooms,
        )

    assert message(BOT, {"msgtype": "m.text", "body": "me"}) is None
    assert message(ANN, {}) is None
    edit = {
        "msgtype": "m.text",
        "body": "* x",
        "m.relates_to": {"rel_type": "m.replace", "event_id": "$o"},
    }
    assert message(ANN, edit) is None


def test_direct_rooms_by_m_direct_or_by_two_members() -> None:
    rooms = Rooms(BOT)
    rooms.set_direct({ANN: ["!dm:x"]})
    assert rooms.is_direct("!dm:x")
    for user in (BOT, BEN):
        rooms.apply_state(
            "!two:x",
            {"type": "m.room.member", "state_key": user, "content": {"membership": "join"}},
        )
    assert rooms.is_direct("!two:x") and rooms.direct_room(BEN) == "!two:x"
    rooms.apply_state(
        "!two:x", {"type": "m.room.member", "state_key": ANN, "content": {"membership": "join"}}
    )
    assert not rooms.is_direct("!two:x")
    strict = Rooms(BOT, by_member_count=False)
    for user in (BOT, BEN):
        strict.apply_state(
            "!two:x",
            {"type": "m.room.member", "state_key": user, "content": {"membership": "join"}},
        )
    assert not strict.is_direct("!two:x")


def test_render_text_mentions_reply_and_images() -> None:
    parts = render(
        [
            Reply("$q"),
            At(ANN, "Ann <3"),
            Plain(" hi\nthere "),
            AtAll(),
            Image("/tmp/a.png"),
            Plain("after"),
        ],
        also_mention=[BEN],
    )
    first, image, after = parts
    assert first == {
        "msgtype": "m.text",
        "body": "Ann <3 hi\nthere @room",
        "format": "org.matrix.custom.html",
        "formatted_body": (
            '<a href="https://matrix.to/#/@ann:example.org">Ann &lt;3</a> hi<br/>there @room'
        ),
        "m.mentions": {"user_ids": [ANN, BEN], "room": True},
        "m.relates_to": {"m.in_reply_to": {"event_id": "$q"}},
    }
    assert image == Upload(Image("/tmp/a.png"), None)
    assert after == {"msgtype": "m.text", "body": "after", "m.mentions": {}}
    assert render([Plain("x")], reply_to="$r", msgtype="m.notice") == [
        {
            "msgtype": "m.notice",
            "body": "x",
            "m.mentions": {},
            "m.relates_to": {"m.in_reply_to": {"event_id": "$r"}},
        }
    ]
    assert render([Image("mxc://s/i")], reply_to="$r") == [
        Upload(Image("mxc://s/i"), {"m.in_reply_to": {"event_id": "$r"}})
    ]
    with pytest.raises(TypeError, match="Face"):
        render([Face("1")])
