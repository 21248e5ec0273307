"""``Deduplicator``: drop an event seen again within a short window.

Usage::

    seen = Deduplicator(window=60.0)
    if seen.repeated(payload):       # HTTP POST retry, or the same event on a second channel
        return

Implementations re-send events (go-cqhttp retries an HTTP POST that timed out) and deliver every
event on every channel when several are enabled. Messages are keyed by their ids, other events
by their whole content; meta events (heartbeats, lifecycle) are per connection and never
deduplicated. Keys live in two generations that rotate every ``window`` seconds on the loop
clock, so a key is remembered for at least ``window`` and less than twice that, at the cost of
two dict lookups per event and no per-key expiry bookkeeping; the table is bounded in size.
"""

from __future__ import annotations

import asyncio
import json
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
    """Remembers event keys for ``window`` seconds or a little longer (at most ``limit``)."""

    __slots__ = ("_current", "_loop", "_previous", "_rotate_at", "limit", "window")

    def __init__(self, window: float, limit: int = 100_000) -> None:
        self.window = window
        self.limit = limit
        self._loop = asyncio.get_running_loop()
        self._current: dict[Hashable, None] = {}  # keys first seen in this generation
        self._previous: dict[Hashable, None] = {}  # ... and in the one before
        self._rotate_at = float("-inf")  # the first event starts the first generation

    def repeated(self, payload: Mapping[str, Any]) -> bool:
        """True when an event with the same key was seen within the window; else remember it."""
        if self.window <= 0:
            return False
        key = event_key(payload)
        if key is None:
            return False
        now = self._loop.time()
        if now >= self._rotate_at:
            self._rotate(now)
        if key in self._current or key in self._previous:
            return True
        if len(self._current) + len(self._previous) >= self.limit:
            self._rotate(now)  # a flood: the oldest keys go early
            if len(self._previous) >= self.limit:
                self._previous = {}
        self._current[key] = None
        return False

    def _rotate(self, now: float) -> None:
        # The current generation becomes the previous one, unless it is itself a window old.
        fresh = now < self._rotate_at + self.window
        self._previous = self._current if fresh else {}
        self._current = {}
        self._rotate_at = now + self.window

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)
