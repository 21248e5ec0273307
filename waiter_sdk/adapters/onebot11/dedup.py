"""``Deduplicator``: drop an event seen again within a short window.

Usage::

    seen = Deduplicator(window=60.0)
    if seen.repeated(payload):       # HTTP POST retry, or the same event on a second channel
        return

Implementations re-send events (go-cqhttp retries an HTTP POST that timed out) and deliver every
event on every channel when several are enabled. Messages are keyed by their ids, other events
by their whole content; meta events (heartbeats, lifecycle) are per connection and never
deduplicated. Expiry reads the loop clock, and the table is bounded in size.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Hashable, Mapping
from typing import Any

__all__ = ["Deduplicator", "event_key"]


def event_key(payload: Mapping[str, Any]) -> Hashable | None:
    """What identifies ``payload`` across deliveries; ``None`` for events never deduplicated.

    A message is its ids, where an integer and its decimal text are the same id (``7``, ``"7"``).
    """
    post_type = payload.get("post_type")
    if post_type == "meta_event":
        return None
    if post_type == "message" or post_type == "message_sent":
        get = payload.get
        message_id = get("message_id")
        if message_id is not None:
            self_id, group_id, user_id = get("self_id"), get("group_id"), get("user_id")
            message_type = get("message_type")
            key = (post_type, self_id, message_type, group_id, user_id, message_id)
            # Integer ids and a named message type, as implementations send them: the raw values
            # are the key, with no text made from the numbers.
            if (
                type(message_id) is int
                and type(user_id) is int
                and type(self_id) is int
                and (type(group_id) is int or group_id is None)
                and (message_type == "group" or message_type == "private")
            ):
                return key
            try:
                return tuple(map(_id_part, key))
            except TypeError:  # an array or an object as an id: str() of a deep one would recurse
                return None
    try:
        return json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):  # nested near the decoder's own limit
        return None


def _id_part(value: object) -> Hashable:
    """``value`` as part of a message key: integers as they are, decimal text as its integer."""
    if type(value) is int or value is None:
        return value
    if type(value) is str:
        digits = value[1:] if value.startswith("-") else value
        # Not int() on just anything: it also reads "+7", " 7", "0_7" and non-ASCII digits, and
        # refuses over 4,300 digits; only text that int() gives back unchanged is a number here.
        if digits.isdecimal() and len(digits) < 100:
            number = int(value)
            if str(number) == value:
                return number
        return value
    if isinstance(value, Mapping | list):
        raise TypeError(f"an id is not {type(value).__name__}")
    # Floats, booleans: as text, so that 1.0 and True are not the integer 1 they compare equal to.
    return str(value)


class Deduplicator:
    """Remembers event keys for ``window`` seconds (at most ``limit`` of them)."""

    __slots__ = ("_expiry", "_loop", "_order", "limit", "window")

    def __init__(self, window: float, limit: int = 100_000) -> None:
        self.window = window
        self.limit = limit
        self._expiry: dict[Hashable, float] = {}
        # Expiry order, oldest first: a deque pops its front in O(1), where deleting the first
        # keys of a dict leaves holes that every later scan from the front must step over.
        self._order: deque[tuple[float, Hashable]] = deque()
        self._loop = asyncio.get_running_loop()

    def repeated(self, payload: Mapping[str, Any]) -> bool:
        """True when an event with the same key was seen within the window; else remember it."""
        if self.window <= 0:
            return False
        key = event_key(payload)
        if key is None:
            return False
        now = self._loop.time()
        order, expiry = self._order, self._expiry
        while order and (order[0][0] <= now or len(order) >= self.limit):
            _, old = order.popleft()
            del expiry[old]
        if key in expiry:
            return True
        expires = now + self.window
        expiry[key] = expires
        order.append((expires, key))
        return False

    def __len__(self) -> int:
        return len(self._expiry)
