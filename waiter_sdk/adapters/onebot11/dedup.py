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
    """What identifies ``payload`` across deliveries; ``None`` for events never deduplicated."""
    post_type = payload.get("post_type")
    if post_type == "meta_event":
        return None
    if post_type in ("message", "message_sent") and payload.get("message_id") is not None:
        return (
            str(post_type),
            str(payload.get("self_id")),
            str(payload.get("message_type")),
            str(payload.get("group_id")),
            str(payload.get("user_id")),
            str(payload.get("message_id")),
        )
    try:
        return json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):  # nested near the decoder's own limit
        return None


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
