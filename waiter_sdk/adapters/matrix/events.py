"""Matrix room events as SDK events.

Usage::

    event = parse_message(room_id, raw_event, rooms, adapter=adapter)   # MessageEvent or None

A ``m.room.message`` in a private room (see ``Rooms.is_direct``) is a private message
(``group_id=None``), in any other room a group message whose ``group_id`` is the room id.
``message_id`` is the event id, ``sender_id`` the full user id, ``sender_name`` the sender's
display name in that room, ``sender_role`` follows the room's power levels (100: owner, 50:
admin). ``to_me`` is true in a private room, or when the bot is mentioned (pill, bare id or
``m.mentions``); a mention of the bot at the start or end is cut from ``message_str``, as on
OneBot, so ``Bot: /help`` runs ``/help``.

``None`` means "drop": the bot's own messages, edits (``m.replace``: the original was handled
already), redacted messages (no content left). A field of the wrong type (an id that is a
number, content that is a list) is an ``EventError``, and nothing else escapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...events import MessageEvent, MessageSink
from ...exceptions import EventError
from ..fields import kind_of, unix_from_millis
from .message import addressed_text, read_content
from .rooms import Rooms

__all__ = ["PLATFORM", "parse_message"]

PLATFORM = "matrix"


def parse_message(
    room_id: str,
    event: Mapping[str, Any],
    rooms: Rooms,
    *,
    adapter: MessageSink | None = None,
) -> MessageEvent | None:
    """One timeline event of ``room_id`` as a ``MessageEvent``; ``None`` to drop it."""
    if not isinstance(event, Mapping):
        raise EventError(f"a room event is an object, not {type(event).__name__}")
    event_id = _required(event, "event_id")
    sender = _required(event, "sender")
    self_id = rooms.self_id
    if sender == self_id:
        return None
    content = event.get("content")
    if not isinstance(content, Mapping):
        raise EventError(f"event {event_id}: content is an object, not {_kind(content)}")
    if not content:
        return None  # redacted
    relates = content.get("m.relates_to")
    if isinstance(relates, Mapping) and relates.get("rel_type") == "m.replace":
        return None
    try:
        read = read_content(content, self_id)
    except TypeError as exc:
        raise EventError(f"event {event_id}: content unreadable: {exc}") from None
    direct = rooms.is_direct(room_id)
    text = read.text
    to_me = direct
    if read.mentioned and not direct:
        to_me = True
        addressed = addressed_text(read.chain, self_id)
        if addressed is not None:
            text = addressed
    if direct:
        rooms.spoke_privately(sender, room_id)
    return MessageEvent(
        platform=PLATFORM,
        self_id=self_id,
        message=read.chain,
        message_id=event_id,
        sender_id=sender,
        sender_name=rooms.name_of(room_id, sender),
        sender_role=None if direct else rooms.role_of(room_id, sender),
        group_id=None if direct else room_id,
        reply_to=read.reply_to,
        to_me=to_me,
        timestamp=unix_from_millis(event.get("origin_server_ts")),
        raw=event,
        adapter=adapter,
        message_str=text,
    )


def _required(event: Mapping[str, Any], field: str) -> str:
    value = event.get(field)
    if not isinstance(value, str) or not value:
        raise EventError(f"a room event's {field} is a non-empty string, not {_kind(value)}")
    return value


def _kind(value: object) -> str:
    if value is None:
        return "missing"
    if isinstance(value, str):
        return "a string" if value else "empty"
    return kind_of(value)
