"""Every captured payload parses to the event a plugin author expects; the odd ones too."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from waiter_sdk import (
    At,
    Event,
    Image,
    MessageChain,
    MessageEvent,
    MetaEvent,
    NoticeEvent,
    Plain,
    Plugin,
    Reply,
    RequestEvent,
    Segment,
    on_notice,
)
from waiter_sdk.adapters.onebot11 import GenericEvent, parse_event
from waiter_sdk.adapters.onebot11.events import addressed_text

from .conftest import load_fixture, rig

EVENTS = load_fixture("events.jsonl")

# index in events.jsonl -> (class, attributes); None: dropped by default (the bot's own message)
EXPECTED: dict[int, tuple[type[Event], dict[str, Any]] | None] = {
    0: (
        MessageEvent,
        {
            "self_id": "1921576220",
            "sender_id": "3605331714",
            "message_id": "62224923",
            "group_id": None,
            "message_str": "aaaa",
            "sender_name": "俗手",
            "to_me": True,
            "sender_role": None,
            "timestamp": 1752007344.0,
        },
    ),
    1: (
        MessageEvent,
        {
            "self_id": "123456",
            "sender_id": "234567",
            "message_id": "364805473",
            "message_str": "你好",
            "sender_name": "用户名",
            "is_private": True,
        },
    ),
    2: (
        MessageEvent,
        {
            "group_id": "754074796",
            "sender_id": "3065733051",
            "reply_to": "225925481",
            "message_str": " *ore",
            "to_me": False,
            "sender_role": "member",
            "sender_name": "超级哈气薮使用魔爪调教gtnh୧⍢⃝୨",
            "message": MessageChain([Reply("225925481"), At("2429618410", "@✖️"), Plain(" *ore")]),
        },
    ),
    3: (
        MessageEvent,
        {
            "group_id": "885350936",
            "reply_to": "1311078499",
            "to_me": False,
            "message_str": "   别，直接寄给我吧",
            "sender_name": "人畜无害的索菲",
        },
    ),
    4: (
        MessageEvent,
        {
            "message_id": "-566650269",
            "message_str": "",
            "sender_name": "或许吧",
            "message": MessageChain(
                [
                    Image(
                        "2848fe0e469584ad62395b5df8b3fbce.image",
                        "https://gchat.qpic.cn/gchatpic_new/3524806669/595771358-2537271576-"
                        "2848FE0E469584AD62395B5DF8B3FBCE/0?term=2&is_origin=0",
                    )
                ]
            ),
        },
    ),
    5: (
        MessageEvent,
        {
            "self_id": "3193986128",
            "to_me": True,
            "message_str": "@ 一下群主",
            "sender_name": "killjsj",
        },
    ),
    6: None,
    7: None,
    8: (MessageEvent, {"message_str": "", "group_id": "650342021"}),
    9: (
        MessageEvent,
        {
            "message_str": "1111",
            "sender_role": "owner",
            "group_id": "712475505",
            "message_id": "2138691827",
        },
    ),
    10: (MetaEvent, {"type": "heartbeat", "sub_type": "", "self_id": "1444683668"}),
    11: (MetaEvent, {"type": "heartbeat", "self_id": "2995339277"}),
    12: (MetaEvent, {"type": "lifecycle", "sub_type": "connect", "self_id": "2995339277"}),
    13: (MetaEvent, {"type": "lifecycle", "sub_type": "connect", "self_id": "3967912008"}),
    14: (NoticeEvent, {"type": "group_recall", "user_id": "1770262311", "group_id": "1030198677"}),
    15: (
        NoticeEvent,
        {"type": "notify", "sub_type": "poke", "user_id": "2762145484", "group_id": "630166526"},
    ),
    16: (NoticeEvent, {"type": "notify", "sub_type": "poke", "group_id": "883510605"}),
    17: (
        NoticeEvent,
        {"type": "notify", "sub_type": "poke", "user_id": "836193631", "group_id": None},
    ),
    18: (NoticeEvent, {"type": "group_increase", "sub_type": "approve", "user_id": "930204019"}),
    19: (NoticeEvent, {"type": "group_increase", "sub_type": "invite", "group_id": "677877684"}),
    20: (
        RequestEvent,
        {"type": "friend", "user_id": "948211941", "flag": "1678697473000000", "comment": ""},
    ),
    21: (NoticeEvent, {"type": "friend_add", "user_id": "948211941", "group_id": None}),
    22: (
        NoticeEvent,
        {"type": "notify", "sub_type": "profile_like", "user_id": None, "group_id": None},
    ),
    23: (NoticeEvent, {"type": "group_upload", "user_id": "3611925387", "group_id": "249335821"}),
    24: (
        MessageEvent,
        {
            "sub_type": "anonymous",
            "sender_id": "0",
            "sender_name": "匿名",
            "message": MessageChain([]),
            "message_id": "3",
            "group_id": "2001",
        },
    ),
}


def test_the_table_covers_every_fixture() -> None:
    assert sorted(EXPECTED) == list(range(len(EVENTS)))


@pytest.mark.parametrize("index", range(len(EVENTS)))
def test_fixture_parses(index: int) -> None:
    payload = EVENTS[index]
    event = parse_event(payload)
    expected = EXPECTED[index]
    if expected is None:
        assert event is None
        return
    cls, attributes = expected
    assert type(event) is cls
    assert event.platform == "onebot11"
    for name, value in attributes.items():
        got = (
            event.raw[name]
            if name == "sub_type" and isinstance(event, MessageEvent)
            else getattr(event, name)
        )
        assert got == value, name
    assert isinstance(event.self_id, str)
    assert event.raw is payload
    if isinstance(event, MessageEvent):
        assert all(isinstance(x, str) for x in (event.sender_id, event.message_id))
        assert event.group_id is None or isinstance(event.group_id, str)


def test_event_timestamp_is_the_unix_time_the_payload_gives() -> None:
    message = {
        "post_type": "message",
        "message_type": "private",
        "self_id": 10001,
        "user_id": 5,
        "message": "hi",
        "time": 1_752_007_344,
    }
    event = parse_event(message)
    assert isinstance(event, MessageEvent)
    assert event.timestamp == 1_752_007_344.0
    assert isinstance(event.timestamp, float)
    as_text = parse_event({**message, "time": "1752007344.5"})  # some implementations
    assert as_text is not None and as_text.timestamp == 1_752_007_344.5


def test_unknown_fields_stay_reachable() -> None:
    event = parse_event(EVENTS[8])
    assert event is not None
    assert event.group_name.startswith("[2.07.2]")
    assert isinstance(event, MessageEvent)
    assert event.message[0] == Segment("mface", EVENTS[8]["message"][0]["data"])
    napcat = parse_event(EVENTS[1])
    assert napcat is not None
    assert napcat.real_seq == "382"
    upload = parse_event(EVENTS[23])
    assert upload is not None
    assert upload.file["busid"] == 104


def test_own_messages_kept_when_asked() -> None:
    event = parse_event(EVENTS[6], drop_self=False)
    assert isinstance(event, MessageEvent)
    assert event.sender_id == event.self_id == "3193986128"
    private = parse_event(EVENTS[7], drop_self=False)
    assert isinstance(private, MessageEvent)
    assert private.message[0].type == "file"
    # a plain "message" whose sender is the bot is the bot's own too (Lagrange reports those)
    own = dict(EVENTS[0], user_id=EVENTS[0]["self_id"])
    assert parse_event(own) is None


def test_sender_may_be_partial_missing_or_odd() -> None:
    base = {
        "post_type": "message",
        "message_type": "group",
        "self_id": 1,
        "group_id": 2,
        "message_id": 3,
        "user_id": 4,
        "message": "hi",
    }
    assert parse_event(base).sender_name == ""  # type: ignore[union-attr]
    odd = parse_event({**base, "sender": {"nickname": 5, "role": "queen", "level": 3}})
    assert isinstance(odd, MessageEvent)
    assert (odd.sender_name, odd.sender_role) == ("5", None)
    no_user = parse_event({**base, "user_id": None, "sender": {"user_id": 9}})
    assert isinstance(no_user, MessageEvent)
    assert no_user.sender_id == "9"
    as_strings = parse_event({**base, "self_id": "1", "group_id": "2", "message_id": "-3"})
    assert isinstance(as_strings, MessageEvent)
    assert as_strings.message_id == "-3"


def test_cq_string_message_with_escapes() -> None:
    event = parse_event(
        {
            "post_type": "message",
            "message_type": "private",
            "self_id": 1,
            "user_id": 2,
            "message_id": 3,
            "message": "[CQ:reply,id=9]&#91;x&#93; &amp;#91; a,b",
        }
    )
    assert isinstance(event, MessageEvent)
    assert event.reply_to == "9"
    assert event.message_str == "[x] &#91; a,b"


@pytest.mark.parametrize(
    ("segments", "expected"),
    [
        ([At("1"), Plain(" /help")], "/help"),
        ([Reply("5"), At("1"), Plain(" /help")], "/help"),
        ([Plain("/help "), At("1"), Plain("  ")], "/help"),
        ([Plain("hi "), At("1"), Plain(" there")], None),  # in the middle: not addressed
        ([At("2"), Plain(" /help")], None),
        ([At("1"), Plain(" a "), At("1")], "a "),  # first wins; the other mention stays
    ],
)
def test_addressed_text(segments: list[Any], expected: str | None) -> None:
    assert addressed_text(MessageChain(segments), "1") == expected


def test_unknown_post_type_is_a_generic_event() -> None:
    event = parse_event(
        {
            "post_type": "message_reaction",
            "self_id": 1,
            "message_reaction_type": "add",
            "user_id": 5,
            "emoji": "👍",
        }
    )
    assert isinstance(event, GenericEvent)
    assert isinstance(event, NoticeEvent)
    assert (event.post_type, event.type, event.sub_type, event.user_id) == (
        "message_reaction",
        "message_reaction",
        "add",
        "5",
    )
    assert event.emoji == "👍"  # type: ignore[attr-defined]
    guild = parse_event(
        {"post_type": "message", "message_type": "guild", "self_id": 1, "message": "x"}
    )
    assert isinstance(guild, GenericEvent)
    assert guild.sub_type == "guild"


class Watcher(Plugin):
    name = "watcher"

    def __init__(self) -> None:
        self.seen: asyncio.Queue[NoticeEvent] = asyncio.Queue()

    @on_notice()
    async def any_notice(self, event: NoticeEvent) -> None:
        self.seen.put_nowait(event)


async def test_replayed_captures_reach_the_app_over_the_wire() -> None:
    watcher = Watcher()
    async with rig("reverse_ws", [watcher]) as r:
        incoming: list[Event] = []
        r.app.listen("incoming", incoming.append)
        for payload in EVENTS:
            await r.fake.emit(payload)
        await r.fake.emit({"post_type": "brand_new", "self_id": 10001, "time": 1})
        notice = await asyncio.wait_for(watcher.seen.get(), 3)
        while not isinstance(notice, GenericEvent):
            notice = await asyncio.wait_for(watcher.seen.get(), 3)
        assert notice.post_type == "brand_new"
        # everything but the two message_sent captures arrived, in order
        ours = [e for e in incoming if e.raw is not None and e.raw.get("time") != 1]
        fake_hello = [e for e in ours if isinstance(e, MetaEvent) and e.self_id == "10001"]
        kinds = [type(e).__name__ for e in ours if e not in fake_hello]
        wanted = [EXPECTED[i][0].__name__ for i in range(len(EVENTS)) if EXPECTED[i] is not None]  # type: ignore[index]
        assert kinds == wanted
