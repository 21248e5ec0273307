"""``ReplayGuard``: the ``sn`` to resume from, and the events a resume must not deliver twice.

Usage::

    guard = ReplayGuard(window=10_000)
    if guard.repeated(body):        # the server sent this event again
        return
    ... IDENTIFY with {"sn": guard.last_sn} on the next connection

The protocol's session recovery: after a reconnect, IDENTIFY carries the ``sn`` of the last event
received, and the server pushes what happened since. Servers are not exact about it: a replay may
overlap what was already received, and live events may interleave with the replay. So events
are also remembered (the last ``window`` of them) and a repeat is dropped.

The key is the ``sn`` together with the event's type, timestamp, login and message id, not the
``sn`` alone: a restarted server counts from 0 again, and its new event number 3 must not be
taken for the old number 3. ``last_sn`` is the ``sn`` of the last new event, whether it went up
or (after such a restart) down.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

__all__ = ["ReplayGuard", "event_sn", "replay_key"]


def event_sn(body: Mapping[str, Any]) -> int | None:
    """The event's sequence number (``sn``; ``id`` before protocol 1.1), or ``None``."""
    sn = body.get("sn")
    if sn is None:
        sn = body.get("id")
    if type(sn) is int:
        return sn
    return None


def _scalar(value: object) -> Hashable:
    # Only values that are cheap and safe to hash: a hostile event may hold anything anywhere.
    return value if value is None or type(value) in (str, int, float, bool) else "?"


def replay_key(body: Mapping[str, Any], sn: int) -> Hashable:
    """What identifies one event of one server run."""
    login = body.get("login")
    platform = user = message_id = None
    if isinstance(login, Mapping):
        platform = login.get("platform")
        login_user = login.get("user")
        if isinstance(login_user, Mapping):
            user = login_user.get("id")
    message = body.get("message")
    if isinstance(message, Mapping):
        message_id = message.get("id")
    return (
        sn,
        _scalar(body.get("type")),
        _scalar(body.get("timestamp")),
        _scalar(platform),
        _scalar(user),
        _scalar(message_id),
    )


class ReplayGuard:
    """Remembers the last ``window`` events by ``replay_key``; ``window=0`` turns it off."""

    __slots__ = ("_seen", "last_sn", "window")

    def __init__(self, window: int) -> None:
        self.window = window
        self.last_sn: int | None = None
        self._seen: dict[Hashable, None] = {}

    def repeated(self, body: Mapping[str, Any]) -> bool:
        """True when this event was received before; else remember it (and its ``sn``)."""
        sn = event_sn(body)
        if sn is None:
            return False  # nothing to resume from, nothing to compare
        if self.window > 0:
            key = replay_key(body, sn)
            if key in self._seen:
                return True
            self._seen[key] = None
            if len(self._seen) > self.window:
                del self._seen[next(iter(self._seen))]  # the oldest: dicts keep insertion order
        self.last_sn = sn
        return False

    def __len__(self) -> int:
        return len(self._seen)
