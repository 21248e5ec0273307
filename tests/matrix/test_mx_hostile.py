"""Hostile /sync answers: fuzzed shapes reach only documented errors, a bad event never costs
the good ones of the same batch, and garbled or huge answers are logged and retried.

As ``tests/reliability/test_parser_fuzz.py`` does for OneBot: ``read_content`` may raise
``TypeError`` only, ``parse_message`` ``EventError`` only, and ``SyncReader.read`` ``EventError``
only (for an answer that is not an object or has no ``next_batch``); everything wrong inside an
answer is logged and skipped.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from waiter_sdk import EventError, MessageEvent
from waiter_sdk.adapters.matrix import Rooms, SyncReader, parse_message, read_content

from .fake_homeserver import USER, Scripted, joined, member, text
from .test_mx_adapter import ANN, ROOM, Echo, rig

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63, -(2**63) - 1, 10**309])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(
        ["m.text", "m.image", "m.room.message", "m.room.member", "join", USER, "!x:y"]
    )
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
CONTENT_KEYS = [
    "msgtype",
    "body",
    "format",
    "formatted_body",
    "m.relates_to",
    "m.mentions",
    "url",
    "file",
]
contents = json_values | st.dictionaries(st.sampled_from(CONTENT_KEYS), json_values, max_size=6)
EVENT_KEYS = ["type", "event_id", "sender", "content", "state_key", "origin_server_ts"]
events = json_values | st.dictionaries(
    st.sampled_from(EVENT_KEYS),
    json_values | contents | st.sampled_from(["m.room.message", "m.room.member", "$e", ANN]),
    max_size=6,
)
sections = json_values | st.fixed_dictionaries(
    {"events": st.lists(events, max_size=4) | json_values}
)
room_entries = json_values | st.dictionaries(
    st.sampled_from(["state", "timeline", "summary", "invite_state", "account_data"]),
    sections,
    max_size=4,
)


@FUZZ
@given(contents)
def test_read_content_raises_only_type_error(content: Any) -> None:
    if not isinstance(content, dict):
        return
    try:
        read = read_content(content, USER)
    except TypeError:
        return
    assert isinstance(read.text, str)


@FUZZ
@given(events)
def test_parse_message_raises_only_event_error(event: Any) -> None:
    rooms = Rooms(USER)
    with contextlib.suppress(EventError):
        parse_message(ROOM, event, rooms)


@FUZZ
@given(
    hostile_rooms=st.dictionaries(
        st.text(max_size=6) | st.just("!bad:x"), room_entries, max_size=3
    ),
    hostile_events=st.lists(events, max_size=3),
    invite=json_values,
    leave=json_values,
    account_data=json_values,
)
def test_a_hostile_batch_still_delivers_its_good_message(
    hostile_rooms: dict[str, Any],
    hostile_events: list[Any],
    invite: Any,
    leave: Any,
    account_data: Any,
) -> None:
    seen: list[MessageEvent] = []
    reader = SyncReader(Rooms(USER), dispatch=seen.append)
    good = joined([*hostile_events, text("$good", ANN, "/echo still here")])
    join = {**hostile_rooms, "!good:x": good}
    payload = {
        "next_batch": "t9",
        "account_data": account_data,
        "rooms": {"join": join, "invite": invite, "leave": leave},
    }
    batch = reader.read(payload, backlog=False)
    assert batch.next_batch == "t9"
    # The hostile events in the same timeline cannot drop it, nor double it; they could at
    # most make it private (a hostile member event can change who is in the room).
    assert [e.message_id for e in seen if e.message_id == "$good"] == ["$good"]
    assert next(e for e in seen if e.message_id == "$good").message_str == "/echo still here"


@FUZZ
@given(json_values)
def test_an_answer_that_is_no_sync_answer_is_an_event_error(payload: Any) -> None:
    reader = SyncReader(Rooms(USER), dispatch=lambda event: None)
    try:
        reader.read(payload, backlog=False)
    except EventError:
        return
    assert isinstance(payload, dict) and isinstance(payload.get("next_batch"), str)


def test_each_bad_event_gets_a_clear_log_line_and_the_rest_is_handled(logs: list[str]) -> None:
    seen: list[MessageEvent] = []
    reader = SyncReader(Rooms(USER), dispatch=seen.append)
    batch = reader.read(
        {
            "next_batch": "t2",
            "rooms": {
                "join": {
                    ROOM: joined(
                        [
                            {"type": "m.room.message", "event_id": 7, "sender": ANN, "content": {}},
                            {
                                "type": "m.room.message",
                                "event_id": "$2",
                                "sender": ANN,
                                "content": "hi",
                            },
                            {
                                "type": "m.room.message",
                                "event_id": "$3",
                                "sender": ANN,
                                "content": {"msgtype": "m.text", "body": {"nested": True}},
                            },
                            text("$4", ANN, "x" * 5_000_000),  # a huge body is only text
                            text("$5", ANN, "fine"),
                        ]
                    ),
                    "!room-as-list:x": [],
                },
                "invite": "nope",
            },
        },
        backlog=False,
    )
    assert [e.message_id for e in seen] == ["$4", "$5"]
    assert batch.dropped == 5
    dropped = [line for line in logs if "dropped unreadable sync data" in line]
    assert len(dropped) == 5
    assert any("event_id is a non-empty string, not int" in line for line in dropped)
    assert any("content is an object, not a string" in line for line in dropped)
    assert any("body is a string, not dict" in line for line in dropped)
    assert all(len(line) < 400 for line in dropped)  # excerpts, never the whole payload


@pytest.mark.parametrize(
    "answer",
    [
        Scripted(200, raw=b"x" * 4096),
        Scripted(200, raw=b"[" * 5000 + b"]" * 5000),
        Scripted(200, raw=b'{"next_batch": ' + b"1" * 3000 + b"}"),
        Scripted(200, body={"next_batch": 12}),
        Scripted(200, body=["next_batch"]),
    ],
    ids=["over max_response_size", "nested too deep", "huge number", "numeric token", "a list"],
)
async def test_a_garbled_answer_is_logged_and_the_next_one_is_read(
    answer: Scripted, logs: list[str]
) -> None:
    async with rig([Echo], max_response_size=2048) as (fake, _, adapter):
        await adapter.wait_synced(10)
        fake.queue_sync_answer(answer)
        fake.queue_sync({"join": {ROOM: joined([member(ANN, "Ann"), text("$1", ANN, "/echo ok")])}})
        await fake.wait_sent(1)
        assert fake.sent[0][2]["body"] == "ok"
    assert sum("sync failed" in line for line in logs) == 1
