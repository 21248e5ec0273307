"""The OneBot v11 parsing entry points under fuzzed input: only documented errors escape.

``parse_event`` may raise ``EventError`` and nothing else; ``parse_message`` may raise
``TypeError`` for a value that is neither a string nor a segment array (``parse_event`` turns it
into ``EventError``); ``parse_cq``, ``cq_unescape`` and ``from_segments`` never raise on what
``parse_message`` produces. The live-connection side of the same inputs is in
``test_hostile_frames.py``.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from waiter_sdk import Event, EventError, MessageEvent
from waiter_sdk._bus import EventBus
from waiter_sdk.adapters.onebot11 import (
    cq_escape,
    cq_unescape,
    from_segments,
    parse_cq,
    parse_event,
    parse_message,
    to_cq,
)

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# JSON as json.loads produces it, including what strict peers never send: huge integers,
# non-finite floats (json.loads accepts Infinity and NaN), lone surrogates from \ud800 escapes.
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63, -(2**63) - 1, 10**309, -(10**309)])  # past int64, past float
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

# Text made of the characters that matter to CQ codes, so the parser meets real edge cases.
cq_text = st.lists(
    st.sampled_from([*"[]CQ:,=&#;amp9134ab /\\", "&amp;", "&#91;", "&#93;", "&#44;", "[CQ:"]),
    max_size=40,
).map("".join)

segment_like = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["text", "at", "image", "reply", "face", "node", ""])
            | json_values,
            "data": json_values
            | st.dictionaries(
                st.sampled_from(["text", "qq", "name", "file", "url", "id"]), json_values
            ),
        },
    ),
)
messages = cq_text | st.lists(segment_like, max_size=6) | segment_like

EVENT_KEYS = [
    "post_type",
    "message_type",
    "notice_type",
    "request_type",
    "meta_event_type",
    "sub_type",
    "self_id",
    "user_id",
    "group_id",
    "message_id",
    "time",
    "message",
    "sender",
    "anonymous",
    "comment",
    "flag",
    "interval",
]
POST_TYPES = ["message", "message_sent", "notice", "request", "meta_event", "brand_new", ""]
sender_like = json_values | st.dictionaries(
    st.sampled_from(["user_id", "nickname", "card", "role", "sex", "age"]), json_values
)
payloads = st.fixed_dictionaries(
    {"post_type": st.sampled_from(POST_TYPES) | json_values},
    optional={
        "message_type": st.sampled_from(["private", "group", "guild"]) | json_values,
        "self_id": json_values,
        "user_id": json_values,
        "group_id": json_values,
        "message_id": json_values,
        "time": json_values,
        "message": messages,
        "sender": sender_like,
        "anonymous": json_values,
        "notice_type": json_values,
        "request_type": json_values,
        "meta_event_type": json_values,
        "sub_type": json_values,
        "comment": json_values,
        "flag": json_values,
        "interval": json_values,
    },
).flatmap(
    # ... and extra fields nobody documented, of any type.
    lambda base: st.dictionaries(st.text(max_size=10), json_values, max_size=3).map(
        lambda extra: {**extra, **base}
    )
)


def _check_event(event: Event | None) -> None:
    if event is None:
        return
    assert isinstance(event.self_id, str)
    if isinstance(event, MessageEvent):
        assert isinstance(event.sender_id, str) and isinstance(event.message_id, str)
        assert event.group_id is None or isinstance(event.group_id, str)
        assert isinstance(event.message_str, str)
        assert isinstance(event.sender_name, str)
        assert event.sender_role in (None, "owner", "admin", "member")
        assert isinstance(event.timestamp, float)
        assert isinstance(event.unified_msg_origin, str)


@FUZZ
@given(payloads)
@example({"post_type": "message", "message_type": "group", "sender": {"role": []}})
@example({"post_type": "message", "message_type": "private", "time": 10**309})
@example({"post_type": "notice", "user_id": [1, [2]], "group_id": {"a": 1}})
@example({"post_type": "message", "message_type": "group", "message": [{"data": [1]}]})
def test_parse_event_raises_only_event_error(payload: dict[str, Any]) -> None:
    try:
        event = parse_event(payload)
    except EventError:
        return
    _check_event(event)


@FUZZ
@given(json_values)
def test_parse_event_refuses_what_is_not_an_object(value: Any) -> None:
    if isinstance(value, dict):
        value = {"post_type": "notice", **value}
    with contextlib.suppress(EventError):
        _check_event(parse_event(value))


@FUZZ
@given(messages)
def test_messages_parse_or_raise_type_error(message: Any) -> None:
    try:
        segments = parse_message(message)
        chain = from_segments(segments)
    except TypeError:
        assert not isinstance(message, str) and message is not None  # text always parses
        return
    assert all(isinstance(s["type"], str) and isinstance(s["data"], dict) for s in segments)
    assert isinstance(chain.plain_text, str)


@FUZZ
@given(cq_text)
def test_cq_strings_never_raise_and_round_trip(text: str) -> None:
    segments = parse_cq(text)
    again = parse_cq(to_cq(segments))
    # Rendering what was parsed and parsing it again gives the same message.
    assert from_segments(again) == from_segments(segments)


@FUZZ
@given(st.text(max_size=200))
def test_escaping_round_trips_any_text(text: str) -> None:
    assert cq_unescape(cq_escape(text)) == text
    assert cq_unescape(cq_escape(text, in_param=True)) == text
    if text:
        assert from_segments(parse_cq(cq_escape(text))).plain_text == text


@FUZZ
@given(st.text(max_size=120))
def test_command_arguments_from_the_wire_never_raise(text: str) -> None:
    """A command typed by a stranger goes CQ string -> event -> command match -> args."""
    bus = EventBus(["/", "!"])
    from waiter_sdk._bus import Handler
    from waiter_sdk.plugins.base import HandlerInfo

    async def fn(event: MessageEvent) -> None: ...

    bus.add(Handler("p", "h", HandlerInfo(kind="message", command="go"), fn))
    payload = {
        "post_type": "message",
        "message_type": "private",
        "self_id": 1,
        "user_id": 2,
        "message_id": 3,
        "message": "/go " + text,
    }
    event = parse_event(json.loads(json.dumps(payload)))
    assert isinstance(event, MessageEvent)
    found = bus.match_command(event.message_str)
    assert found is not None
    assert all(isinstance(arg, str) for arg in found[1])
