"""Satori event bodies as SDK events.

Usage::

    event = parse_event(body, adapter=adapter)   # MessageEvent, NoticeEvent, ... or None

A Satori event names the login that received it (``login.platform`` + ``login.user.id``); one
connection can carry several. The SDK's ``self_id`` is ``"{platform}:{user id}"`` (Koishi's
"sid"), so two logins never share a session key, a reply goes out as the login that received
the conversation, and ``Target(self_id=...)`` says which login sends.

* ``message-created`` is a ``MessageEvent``: ``channel.type`` 1 (DIRECT) is a private chat with
  ``user.id``, any other channel a group whose ``group_id`` is ``channel.id``; the sender's name
  is ``member.nick``, ``user.nick`` or ``user.name``; ``sender_role`` comes from ``member.roles``
  when a role is named owner, admin or member; ``reply_to`` is the first ``<quote id>`` (or
  ``message.quote.id``).
* ``friend-request``, ``guild-request``, ``guild-member-request`` are ``RequestEvent`` (``flag``
  is the request's message id, to approve it); ``login-*`` are ``MetaEvent``; everything else is a
  ``NoticeEvent`` of that ``type``. Every field stays reachable through ``event.raw``.

Resources may sit on the event or inside ``message`` ("resource promotion"): both are read.
``None`` means "drop": the bot's own messages when ``drop_self`` is set. A body that cannot be an
event (no login, a message without a channel, a field of the wrong JSON type) is an
``EventError``, and nothing else escapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...events import (
    Event,
    MessageChain,
    MessageEvent,
    MessageSink,
    MetaEvent,
    NoticeEvent,
    Reply,
    RequestEvent,
)
from ...exceptions import EventError
from ..addressing import addressed_text as _addressed_text
from ..fields import kind_of, unix_from_millis
from .message import chain_text, from_content

__all__ = [
    "DIRECT",
    "PLATFORM",
    "addressed_text",
    "event_login",
    "parse_event",
    "self_id_of",
    "split_self_id",
]

PLATFORM = "satori"
DIRECT = 1  # channel.type of a private chat (TEXT 0, DIRECT 1, CATEGORY 2, VOICE 3)
_REQUESTS = frozenset({"friend-request", "guild-request", "guild-member-request"})
_ROLES = ("owner", "admin", "member")
_ROLE_NAMES = {"owner": "owner", "admin": "admin", "administrator": "admin", "member": "member"}


def self_id_of(platform: str, user_id: str) -> str:
    """The SDK's ``self_id`` of a login."""
    return f"{platform}:{user_id}"


def split_self_id(self_id: str) -> tuple[str, str]:
    """``(platform, user id)`` of a ``self_id`` made by ``self_id_of``; ``ValueError`` if not one."""
    platform, sep, user = self_id.partition(":")
    if not sep or not platform or not user:
        raise ValueError(
            f"{self_id!r} is not a Satori self_id; it is '<platform>:<user id>', as events carry it"
        )
    return platform, user


def event_login(body: Mapping[str, Any]) -> tuple[str, str]:
    """``(platform, user id)`` of the login an event came in on; ``EventError`` if none."""
    login = _obj(body.get("login"), "login")
    platform = user_id = None
    if login is not None:
        platform = _text(login.get("platform"), "login.platform")
        user = _obj(login.get("user"), "login.user")
        if user is not None:
            user_id = _id(user.get("id"), "login.user.id")
        if user_id is None:
            user_id = _id(login.get("self_id"), "login.self_id")
    # Before protocol 1.1 the login was 'platform' and 'self_id' on the event itself.
    platform = platform or _text(body.get("platform"), "platform")
    user_id = user_id or _id(body.get("self_id"), "self_id")
    if not platform or not user_id:
        raise EventError("a Satori event names its login (login.platform and login.user.id)")
    return platform, user_id


def parse_event(
    body: Mapping[str, Any],
    *,
    adapter: MessageSink | None = None,
    drop_self: bool = True,
) -> Event | None:
    """Turn one event body into an SDK event; ``None`` when it is the bot's own message.

    Raises ``EventError`` (and nothing else) when the body cannot be an event.
    """
    if not isinstance(body, Mapping):
        raise EventError(f"a Satori event is a JSON object, not {type(body).__name__}")
    kind = _text(body.get("type"), "type")
    if not kind:
        raise EventError("a Satori event has a type")
    platform, login_user = event_login(body)
    self_id = self_id_of(platform, login_user)
    message = _obj(body.get("message"), "message")
    if kind == "message-created":
        if message is None:
            raise EventError("a message-created event carries a message")
        return _message(body, message, self_id, login_user, adapter, drop_self)
    channel = _resource(body, message, "channel")
    guild = _resource(body, message, "guild")
    user = _resource(body, message, "user")
    user_id = _id(user.get("id"), "user.id") if user is not None else None
    group_id = None
    if channel is not None and _channel_type(channel) != DIRECT:
        group_id = _id(channel.get("id"), "channel.id")
    if group_id is None and guild is not None:
        group_id = _id(guild.get("id"), "guild.id")
    fields: dict[str, Any] = {
        "platform": PLATFORM,
        "self_id": self_id,
        "type": kind,
        "user_id": user_id,
        "group_id": group_id,
        "timestamp": unix_from_millis(body.get("timestamp")),
        "raw": body,
        "adapter": adapter,
    }
    if kind in _REQUESTS:
        request_id = _id(message.get("id"), "message.id") if message is not None else None
        comment = _text(message.get("content"), "message.content") if message is not None else ""
        return RequestEvent(flag=request_id or "", comment=comment, **fields)
    if kind.startswith("login-"):
        return MetaEvent(**fields)
    return NoticeEvent(**fields)


def _message(
    body: Mapping[str, Any],
    message: Mapping[str, Any],
    self_id: str,
    login_user: str,
    adapter: MessageSink | None,
    drop_self: bool,
) -> MessageEvent | None:
    channel = _resource(body, message, "channel")
    if channel is None:
        raise EventError("a message-created event names its channel")
    channel_id = _id(channel.get("id"), "channel.id")
    if not channel_id:
        raise EventError("a message-created event names its channel (channel.id)")
    user = _resource(body, message, "user") or {}
    member = _resource(body, message, "member") or {}
    member_user = _obj(member.get("user"), "member.user") or {}
    sender_id = _id(user.get("id"), "user.id") or _id(member_user.get("id"), "member.user.id")
    if not sender_id:
        raise EventError("a message-created event names its author (user.id)")
    if drop_self and sender_id == login_user:
        return None
    content = message.get("content")
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise EventError(f"message.content is a string, not {kind_of(content)}")
    chain = from_content(content)
    reply_to = next((c.message_id for c in chain if isinstance(c, Reply)), None)
    if reply_to is None:
        quote = _obj(message.get("quote"), "message.quote")
        if quote is not None:
            reply_to = _id(quote.get("id"), "message.quote.id")
    private = _channel_type(channel) == DIRECT
    name = (
        _text(member.get("nick"), "member.nick")
        or _text(user.get("nick"), "user.nick")
        or _text(user.get("name"), "user.name")
    )
    text = chain_text(chain)
    to_me = private
    if not private:
        addressed = addressed_text(chain, login_user)
        if addressed is not None:
            to_me, text = True, addressed
    return MessageEvent(
        platform=PLATFORM,
        self_id=self_id,
        message=chain,
        message_id=_id(message.get("id"), "message.id") or "",
        sender_id=sender_id,
        sender_name=name,
        sender_role=None if private else _role(member.get("roles")),
        group_id=None if private else channel_id,
        reply_to=reply_to,
        to_me=to_me,
        timestamp=unix_from_millis(body.get("timestamp")),
        raw=body,
        adapter=adapter,
        message_str=text,
    )


def addressed_text(chain: MessageChain, login_user: str) -> str | None:
    """The text of a group message that mentions the bot first or last, without that mention;
    ``None`` when the bot is not mentioned there (leading quotes and blank text skipped). Text
    kept inside unknown elements counts (``chain_text``)."""
    return _addressed_text(chain, login_user, chain_text)


def _resource(
    body: Mapping[str, Any], message: Mapping[str, Any] | None, name: str
) -> Mapping[str, Any] | None:
    found = _obj(body.get(name), name)
    if found is None and message is not None:
        found = _obj(message.get(name), f"message.{name}")
    return found


def _channel_type(channel: Mapping[str, Any]) -> int | None:
    value = channel.get("type")
    if type(value) is int:
        return value
    if isinstance(value, str) and value.isdecimal() and len(value) < 4:
        return int(value)
    if value is None or isinstance(value, int | float | str):
        return None
    raise EventError(f"channel.type is a number, not {kind_of(value)}")


def _role(roles: object) -> str | None:
    if not isinstance(roles, list):
        return None
    found: set[str] = set()
    for role in roles[:100]:
        names: list[object] = [role]
        if isinstance(role, Mapping):
            names = [role.get("id"), role.get("name")]
        for name in names:
            if isinstance(name, str) and name.lower() in _ROLE_NAMES:
                found.add(_ROLE_NAMES[name.lower()])
    return next((role for role in _ROLES if role in found), None)


def _obj(value: object, field: str) -> Mapping[str, Any] | None:
    if value is None or isinstance(value, Mapping):
        return value
    raise EventError(f"{field} is an object, not {kind_of(value)}")


def _id(value: object, field: str) -> str | None:
    if type(value) is str:
        return value or None
    if value is None:
        return None
    if type(value) is int:
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    # Never str() a container: it is garbage, and a deeply nested one would recurse.
    raise EventError(f"{field} is a string, not {kind_of(value)}")


def _text(value: object, field: str) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EventError(f"{field} is a string, not {kind_of(value)}")
    return str(value)
