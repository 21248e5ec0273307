"""OneBot v11 event payloads as SDK events.

Usage::

    event = parse_event(payload, adapter=adapter)   # MessageEvent, NoticeEvent, ... or None

Parsing is lenient, because implementations drift from the spec: ids arrive as numbers or
strings (even negative), ``sender`` may be partial or missing, segment values may be numbers,
``message`` may be a CQ string or an array. Unknown post types and message types become a
``GenericEvent`` that keeps every field in ``raw``. ``None`` means "drop": the bot's own
messages (``message_sent``, or a sender equal to the bot) when ``drop_self`` is set.

It is not lenient with garbage: an id or a named field that holds an array or an object, or a
message that is neither text nor segments, is an ``EventError``, and nothing else escapes,
whatever the payload holds.

``timestamp`` is Unix time in seconds, as every event of the SDK has it: the payload's ``time``.
When ``time`` is missing or no usable date (not a number, not finite, zero or negative), it is
the wall clock at parsing, which is when the event reached the bot: close to the truth, where
0 would date a live message to 1970.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from ...events import (
    Event,
    MessageEvent,
    MessageSink,
    MetaEvent,
    NoticeEvent,
    RequestEvent,
)
from ...exceptions import EventError
from ..addressing import addressed_text
from ..fields import kind_of
from .message import read_message

__all__ = ["PLATFORM", "GenericEvent", "addressed_text", "parse_event"]

PLATFORM = "onebot11"
_ROLES = frozenset({"owner", "admin", "member"})


class GenericEvent(NoticeEvent):
    """An event of a kind the SDK has no class for (a new ``post_type`` or ``message_type``).

    Usage: ``@on_notice()`` handlers receive it; ``event.post_type`` and ``event.raw`` tell what
    it is. ``type`` is the post type, ``sub_type`` its detail type when the payload names one.
    """

    __slots__ = ("post_type",)
    kind = "notice"

    def __init__(self, *, post_type: str, **fields: Any) -> None:
        super().__init__(**fields)
        self.post_type = post_type


def parse_event(
    payload: Mapping[str, Any],
    *,
    adapter: MessageSink | None = None,
    default_self_id: str = "",
    drop_self: bool = True,
) -> Event | None:
    """Turn one event payload into an SDK event; ``None`` when it is the bot's own message.

    Raises ``EventError`` (and nothing else) when the payload is not an object, its message is
    unreadable, or an id or a named field holds an array or an object.
    """
    if type(payload) is not dict and not isinstance(payload, Mapping):
        raise EventError(f"an event is a JSON object, not {type(payload).__name__}")
    post_type = _str(payload.get("post_type"), "post_type")
    self_id = _id(payload.get("self_id"), "self_id") or default_self_id
    # message_sent keeps the key 'message_type', not 'message_sent_type'; other message types
    # fall through to a GenericEvent.
    if post_type in ("message", "message_sent") and payload.get("message_type") in (
        "private",
        "group",
    ):
        if drop_self and post_type == "message_sent":
            return None
        return _message(payload, self_id, adapter, drop_self)
    common: dict[str, Any] = {
        "platform": PLATFORM,
        "self_id": self_id,
        "timestamp": _time(payload.get("time")),
        "raw": payload,
        "adapter": adapter,
    }
    if post_type == "notice":
        return NoticeEvent(
            type=_str(payload.get("notice_type"), "notice_type"), **_typed(payload), **common
        )
    if post_type == "request":
        return RequestEvent(
            type=_str(payload.get("request_type"), "request_type"),
            comment=_str(payload.get("comment"), "comment"),
            flag=_str(payload.get("flag"), "flag"),
            **_typed(payload),
            **common,
        )
    if post_type == "meta_event":
        return MetaEvent(
            type=_str(payload.get("meta_event_type"), "meta_event_type"),
            **_typed(payload),
            **common,
        )
    return _generic(post_type, payload, common)


def _message(
    payload: Mapping[str, Any], self_id: str, adapter: MessageSink | None, drop_self: bool
) -> MessageEvent | None:
    sender = payload.get("sender")
    if type(sender) is not dict and not isinstance(sender, Mapping):
        sender = {}
    user_id = payload.get("user_id")
    if user_id is None:
        user_id = sender.get("user_id")
    sender_id = _id(user_id, "user_id") or ""
    if drop_self and self_id and sender_id == self_id:
        # Some implementations report the bot's own group messages as plain 'message'.
        return None
    try:
        chain, text, reply_to, mentioned = read_message(payload.get("message"), self_id)
    except TypeError as exc:
        raise EventError(f"message field unreadable: {exc}") from None
    group_id = (
        _id(payload.get("group_id"), "group_id") if payload.get("message_type") == "group" else None
    )
    name = ""
    role = None
    if group_id is not None:
        anonymous = payload.get("anonymous")
        if anonymous is not None and isinstance(anonymous, Mapping):
            name = _str(anonymous.get("name"), "anonymous.name")
        if not name:
            name = _str(sender.get("card"), "sender.card")
        role = sender.get("role")
        if not isinstance(role, str) or role not in _ROLES:  # a list is unhashable besides
            role = None
    if not name:
        name = _str(sender.get("nickname"), "sender.nickname")
    to_me = group_id is None
    if mentioned and not to_me:  # addressed_text finds nothing without a mention of the bot
        addressed = addressed_text(chain, self_id)
        if addressed is not None:
            to_me, text = True, addressed
    return MessageEvent(
        platform=PLATFORM,
        self_id=self_id,
        message=chain,
        message_id=_id(payload.get("message_id"), "message_id") or "",
        sender_id=sender_id,
        sender_name=name,
        sender_role=role,
        group_id=group_id,
        reply_to=reply_to,
        to_me=to_me,
        timestamp=_time(payload.get("time")),
        raw=payload,
        adapter=adapter,
        message_str=text,
    )


def _typed(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "sub_type": _str(payload.get("sub_type"), "sub_type"),
        "user_id": _id(payload.get("user_id"), "user_id"),
        "group_id": _id(payload.get("group_id"), "group_id"),
    }


def _generic(post_type: str, payload: Mapping[str, Any], common: dict[str, Any]) -> GenericEvent:
    detail = payload.get(f"{post_type}_type")
    if detail is None:
        detail = payload.get("sub_type")
    fields = _typed(payload)
    fields["sub_type"] = _str(detail, f"{post_type}_type")
    return GenericEvent(post_type=post_type, type=post_type, **fields, **common)


def _id(value: object, field: str) -> str | None:
    if type(value) is int:
        return str(value)
    if type(value) is str:
        return value or None
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        # Never str() a container: it is garbage, and a deeply nested one would recurse.
        raise EventError(f"{field} is a number or a string, not {kind_of(value)}")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _str(value: object, field: str) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list):
        raise EventError(f"{field} is a string, not {kind_of(value)}")
    return str(value)


def _time(value: object) -> float:
    """``time`` as Unix seconds; the wall clock now when it is missing or no usable date."""
    if type(value) is int or (not isinstance(value, bool) and isinstance(value, int | float | str)):
        try:
            seconds = float(value)
        except (ValueError, OverflowError):  # "soon", or an integer with 400 digits
            seconds = math.nan
        if math.isfinite(seconds) and seconds > 0:
            return seconds
    # A date, not a deadline: the loop's clock has no epoch, so this one reading comes from
    # time.time(). Nothing waits on it, so virtual time in tests is not affected.
    return time.time()
