"""Session filters: which later events belong to a session.

Usage::

    await waiter(event)                                        # SenderSessionFilter()
    await waiter(event, session_filter=GroupSessionFilter())   # the whole group plays

A filter maps an event to a key; an open session receives the events whose key equals its own.
Filters compare equal when they are of the same class with the same parameters, so the registry
computes each distinct filter's key once per event, however many sessions use it.

A filter may return ``None`` for "this event is outside every session of mine" (a message that
quotes nothing, for ``ReplySessionFilter``); an empty string is a bug in the filter and an error.

The built-in filters build their keys with ``keys.encode_key``, the one encoding of every key.
"""

from __future__ import annotations

import itertools
from typing import Any

from ..events import MessageEvent
from .keys import encode_key, key_field

__all__ = [
    "GroupSessionFilter",
    "ReplySessionFilter",
    "SenderSessionFilter",
    "SessionFilter",
    "UserSessionFilter",
]


_IDENTITY = "_session_filter_identity"
_HASH = "_session_filter_hash"
_CACHED = frozenset({_IDENTITY, _HASH})


def _by_name(item: tuple[str, Any]) -> str:
    return item[0]


class SessionFilter:
    """Base class: subclass and implement ``filter(event) -> str``.

    Parameters that change which events match must be plain attributes set in ``__init__``:
    they decide whether two filter instances are "the same filter" for routing.
    """

    def filter(self, event: MessageEvent) -> str | None:
        raise NotImplementedError(f"{type(self).__name__} must implement filter(event)")

    def open_key(self, event: MessageEvent) -> str:
        """The key a session opened from ``event`` holds. By default ``filter(event)``.

        Override it when the message that opens a session is not one your ``filter`` takes
        (a command that starts a game whose moves look different).
        """
        key = self.filter(event)
        if not key:
            name = type(self).__name__
            raise ValueError(
                f"{name}.filter() returned {key!r} for the message that opens the session, so "
                f"the session has no key to hold; return a key for that message, or override "
                f"{name}.open_key(event) to give the key a session opened from it holds"
            )
        return key

    def key_for_sent(self, event: MessageEvent, message_id: str) -> str | None:
        """An extra key under which the session also receives events, for a message it sent."""
        return None

    def keys(self, event: MessageEvent) -> tuple[str, ...]:
        """Keys of ``event`` in order of preference; the first one an open session holds wins.

        Most filters have one key per event, ``filter(event)``, and need not override this. A
        filter that prefers one session over another for the same event (botoy: a member's own
        session before the whole group's) gives them in order here.
        """
        key = self.filter(event)
        return (key,) if key else ()

    def route_id(self, key: str) -> str | None:
        """An id that every event this filter maps to ``key`` carries, as its sender or group id.

        It lets routing turn away, with two dict lookups and no key built, a message whose
        sender and group hold no session (most chat in a busy bot). ``None`` (the default) means
        "no such id": while a session of this filter is open, every message computes its key.
        Override it in a filter whose keys are made of a sender or group id.
        """
        return None

    def key_for_delivered(self, event: MessageEvent) -> str | None:
        """An extra key for ``event``, which this session takes (or was opened by).

        Called only when ``follows_delivered`` is true: the built-in id filters have nothing to
        learn from a message, and routing must not pay a call per message for nothing.
        """
        return None

    follows_delivered = False

    def _identity(self) -> tuple[Any, ...]:
        # Cached: the registry hashes a session's filter on every open and close, and sorting
        # the attributes each time was a measurable part of ending 10,000 sessions at once.
        fields = getattr(self, "__dict__", None)
        if fields is None:  # a filter with __slots__ only: its class is its identity
            return (type(self), ())
        cached: tuple[Any, ...] | None = fields.get(_IDENTITY)
        if cached is None:
            items = sorted((kv for kv in fields.items() if kv[0] not in _CACHED), key=_by_name)
            cached = (type(self), tuple(items))
            fields[_IDENTITY] = cached
        return cached

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SessionFilter):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        fields = getattr(self, "__dict__", None)
        if fields is None:
            return hash(self._identity())
        cached: int | None = fields.get(_HASH)
        if cached is None:
            cached = fields[_HASH] = hash(self._identity())
        return cached

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._identity()[1])
        return f"{type(self).__name__}({params})"


def _own(flt: SessionFilter, base: type[SessionFilter]) -> bool:
    # A subclass that routes its own way (overrides filter) cannot use base's route id.
    return type(flt).filter is base.filter


class SenderSessionFilter(SessionFilter):
    """One sender in one conversation: Bob's messages never reach Alice's session in a group."""

    def filter(self, event: MessageEvent) -> str:
        group = event.group_id
        sender = event.sender_id
        chat = f"p{sender}" if group is None else f"g{group}"
        # encode_key's own fast path, inlined: this runs for most routed messages. The
        # property test in tests/test_issues/test_12_6_one_key_builder.py keeps the two equal.
        key = f"sender|{event.platform}|{event.self_id}|{chat}|{sender}"
        if key.count("|") == 4 and "\\" not in key and key[-1] != "|":
            return key
        return encode_key("sender", event.platform, event.self_id, chat, sender)

    def route_id(self, key: str) -> str | None:
        if not _own(self, SenderSessionFilter):
            return None
        return key_field(key, "sender") or None


class GroupSessionFilter(SessionFilter):
    """The whole group shares one session; in a private chat it is the sender's own."""

    def filter(self, event: MessageEvent) -> str:
        group = event.group_id
        chat = f"p{event.sender_id}" if group is None else f"g{group}"
        key = f"group|{event.platform}|{event.self_id}|{chat}"  # encode_key's fast path
        if key.count("|") == 3 and "\\" not in key:
            return key
        return encode_key("group", event.platform, event.self_id, chat)

    def route_id(self, key: str) -> str | None:
        if not _own(self, GroupSessionFilter):
            return None
        # "g<group>" or "p<user>": either way the id after the letter is on every message.
        return key_field(key, "chat")[1:] or None


class UserSessionFilter(SessionFilter):
    """One sender in every conversation with this bot: their group and private messages alike."""

    def filter(self, event: MessageEvent) -> str:
        key = f"user|{event.platform}|{event.self_id}||{event.sender_id}"  # encode_key's fast path
        if key.count("|") == 4 and "\\" not in key and key[-1] != "|":
            return key
        return encode_key("user", event.platform, event.self_id, sender=event.sender_id)

    def route_id(self, key: str) -> str | None:
        if not _own(self, UserSessionFilter):
            return None
        return key_field(key, "sender") or None


_reply_sessions = itertools.count(1)


class ReplySessionFilter(SessionFilter):
    """An event belongs to the session only if it quotes a message that belongs to the session.

    A message belongs to the session when its waiter calls sent it, when the handler that
    opened the session sent it (before or while opening), when it is listed in ``message_ids``,
    when it is the message that opened the session, or when the session took it. So quoting
    your own earlier answer goes on the same conversation, as in the JS bots whose sessions
    follow quotes. ``bot_messages_only=True`` keeps to the bot's own messages (sent or listed).

    One user can run several such sessions at once; the message they quote tells them apart.
    """

    def __init__(
        self, message_ids: tuple[str, ...] | list[str] = (), *, bot_messages_only: bool = False
    ) -> None:
        self.message_ids = tuple(str(m) for m in message_ids)
        self.bot_messages_only = bool(bot_messages_only)
        self.follows_delivered = not self.bot_messages_only

    def key_for_delivered(self, event: MessageEvent) -> str | None:
        return self.key_for_sent(event, event.message_id)

    def _identity(self) -> tuple[Any, ...]:
        # message_ids only seed one session; every ReplySessionFilter routes the same way.
        return (ReplySessionFilter, ())

    def filter(self, event: MessageEvent) -> str | None:
        if event.reply_to is None:
            return None
        return encode_key("reply", event.platform, event.self_id, topic=event.reply_to)

    def open_key(self, event: MessageEvent) -> str:
        # The session's own name: no message is keyed like it, it answers to its messages'.
        return encode_key(
            "reply-session", event.platform, event.self_id, topic=str(next(_reply_sessions))
        )

    def key_for_sent(self, event: MessageEvent, message_id: str) -> str | None:
        return encode_key("reply", event.platform, event.self_id, topic=message_id)
