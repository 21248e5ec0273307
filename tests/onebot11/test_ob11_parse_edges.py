"""Edges of the one-pass message parse and of the duplicate key that the captures do not reach."""

from __future__ import annotations

from typing import Any

import pytest

from waiter_sdk import EventError, MessageEvent, Plain, Segment
from waiter_sdk.adapters.onebot11 import parse_event
from waiter_sdk.adapters.onebot11.dedup import event_key
from waiter_sdk.adapters.onebot11.message import read_message

BOT = 1

BASE: dict[str, Any] = {
    "post_type": "message",
    "message_type": "group",
    "self_id": BOT,
    "group_id": 2,
    "user_id": 4,
    "message_id": 3,
}


def message(**fields: Any) -> MessageEvent:
    event = parse_event({**BASE, **fields})
    assert isinstance(event, MessageEvent)
    return event


def test_a_mention_in_the_middle_leaves_the_whole_text() -> None:
    event = message(message="hi [CQ:at,qq=1] there")
    assert (event.to_me, event.message_str) == (False, "hi  there")


def test_a_private_mention_of_the_bot_keeps_the_text_as_sent() -> None:
    # Private messages are to the bot anyway; the mention is not cut out, nor the text stripped.
    event = message(message_type="private", message="[CQ:at,qq=1] hi ")
    assert (event.to_me, event.message_str) == (True, " hi ")


def test_an_addressed_group_message_drops_the_mention() -> None:
    event = message(message=[{"type": "at", "data": {"qq": 1}}, " /help"])
    assert (event.to_me, event.message_str) == (True, "/help")


def test_reply_to_is_the_first_quote() -> None:
    event = message(message="[CQ:reply,id=7][CQ:reply,id=8]x")
    assert event.reply_to == "7"


def test_the_sender_in_sender_user_id_is_the_bot_too() -> None:
    assert parse_event({**BASE, "user_id": None, "sender": {"user_id": BOT}}) is None
    kept = parse_event({**BASE, "user_id": None, "sender": {"user_id": BOT}}, drop_self=False)
    assert isinstance(kept, MessageEvent) and kept.sender_id == "1"


def test_own_messages_are_dropped_before_their_message_is_read() -> None:
    unreadable = {**BASE, "message": 42}
    assert parse_event({**unreadable, "user_id": BOT}) is None
    assert parse_event({**unreadable, "post_type": "message_sent", "user_id": [1]}) is None
    with pytest.raises(EventError):
        parse_event({**unreadable, "user_id": BOT}, drop_self=False)


def test_segment_data_is_a_copy_not_the_payload() -> None:
    data = {"emoji_id": 5, "nested": [1]}
    payload = {**BASE, "message": [{"type": "mface", "data": data}]}
    event = parse_event(payload)
    assert isinstance(event, MessageEvent)
    data["emoji_id"] = 6
    assert event.message[0] == Segment("mface", {"emoji_id": 5, "nested": [1]})


def test_read_message_reports_text_quote_and_mention() -> None:
    chain, text, reply_to, mentioned = read_message(
        [{"type": "reply", "data": {"id": 9}}, "a", {"type": "at", "data": {"qq": "5"}}, 7], "5"
    )
    assert list(chain)[1] == Plain("a")
    assert (text, reply_to, mentioned) == ("a", "9", True)
    assert read_message("[CQ:at,qq=all] b", "5")[1:] == (" b", None, False)
    with pytest.raises(TypeError):
        read_message(3.5, "5")


@pytest.mark.parametrize(
    ("same", "other"),
    [
        ({"message_id": 3}, {"message_id": "3"}),
        ({"message_id": -3, "user_id": 4}, {"message_id": "-3", "user_id": "4"}),
        ({"self_id": "1", "group_id": "2"}, {}),
    ],
)
def test_an_id_as_a_number_or_as_text_is_one_event(
    same: dict[str, Any], other: dict[str, Any]
) -> None:
    assert event_key({**BASE, **same}) == event_key({**BASE, **other})


@pytest.mark.parametrize(
    "other",
    [
        {"message_id": "03"},
        {"message_id": "+3"},
        {"message_id": 3.0},
        {"message_id": " 3"},
        {"user_id": True, "message_id": 3},
        {"message_id": 4},
        {"message_type": "private", "group_id": None},
    ],
)
def test_ids_that_only_look_alike_are_other_events(other: dict[str, Any]) -> None:
    assert event_key({**BASE, "user_id": 1}) != event_key({**BASE, "user_id": 1, **other})


def test_an_id_that_is_an_array_gets_no_key_however_deep() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    assert event_key({**BASE, "message_id": deep}) is None
    assert event_key({**BASE, "group_id": {"a": 1}}) is None
