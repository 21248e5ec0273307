"""``Rooms``: what the bot knows of its rooms from /sync, and which of them are private chats.

Usage::

    rooms = Rooms(self_id="@bot:example.org", by_member_count=True)
    rooms.apply_state(room_id, state_event)       # m.room.member, m.room.power_levels
    rooms.set_direct(account_data["content"])     # the bot's m.direct
    rooms.is_direct(room_id)                      # a private chat?
    rooms.direct_room(user_id)                    # where a private message to that user goes

The rule for "direct" (a private chat, ``group_id=None``): the room is listed in the bot's
``m.direct`` account data (the adapter adds rooms it joins from an ``is_direct`` invite), or,
with ``by_member_count``, exactly two users are joined to it. Everything else is a group whose
``group_id`` is the room id. Only state is kept (members, display names, power levels), never
messages, so memory grows with the rooms and their members, not with traffic.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Room", "Rooms"]

_SENDERS_KEPT = 2048


@dataclass(slots=True)
class Room:
    """One joined room: member display names, joined users, power levels."""

    room_id: str
    joined: set[str] = field(default_factory=set)
    names: dict[str, str] = field(default_factory=dict)
    levels: dict[str, int] = field(default_factory=dict)
    default_level: int = 0
    joined_count: int | None = None  # the server's summary, when it sent one

    @property
    def member_count(self) -> int:
        return self.joined_count if self.joined_count is not None else len(self.joined)

    def role(self, user_id: str) -> str:
        """``owner`` (power 100 and more), ``admin`` (50 and more) or ``member``."""
        level = self.levels.get(user_id, self.default_level)
        return "owner" if level >= 100 else "admin" if level >= 50 else "member"


class Rooms:
    """Every room the bot is in, the ``m.direct`` map, and the last private room per user."""

    def __init__(self, self_id: str, *, by_member_count: bool = True) -> None:
        self.self_id = self_id
        self.by_member_count = by_member_count
        self.rooms: dict[str, Room] = {}
        self.direct: dict[str, list[str]] = {}  # the m.direct content: user -> rooms
        self._direct_rooms: set[str] = set()
        self._last_private: dict[str, str] = {}  # user -> room of their last private message
        # Senders of recent messages, so a reply can mention whom it quotes (bounded).
        self._senders: OrderedDict[str, str] = OrderedDict()

    def room(self, room_id: str) -> Room:
        room = self.rooms.get(room_id)
        if room is None:
            room = self.rooms[room_id] = Room(room_id)
        return room

    def forget(self, room_id: str) -> None:
        """The bot left (or was removed from) ``room_id``."""
        self.rooms.pop(room_id, None)
        for user, room in list(self._last_private.items()):
            if room == room_id:
                del self._last_private[user]

    # --- state ---------------------------------------------------------------------------

    def apply_state(self, room_id: str, event: Mapping[str, Any]) -> None:
        """Take one state event into account; events of other types are ignored.

        Raises ``TypeError`` when a field this reads has the wrong type.
        """
        kind = event.get("type")
        content = event.get("content")
        if not isinstance(content, Mapping):
            if content is None:
                return
            raise TypeError(f"state content is an object, not {type(content).__name__}")
        if kind == "m.room.member":
            user = event.get("state_key")
            if not isinstance(user, str) or not user:
                raise TypeError("m.room.member has no state_key")
            room = self.room(room_id)
            membership = content.get("membership")
            if membership == "join":
                room.joined.add(user)
            else:
                room.joined.discard(user)
            name = content.get("displayname")
            if isinstance(name, str) and name.strip():
                room.names[user] = name
            else:
                room.names.pop(user, None)
        elif kind == "m.room.power_levels" and event.get("state_key", "") == "":
            room = self.room(room_id)
            users = content.get("users")
            room.levels = (
                {u: _level(v) for u, v in users.items() if isinstance(u, str)}
                if isinstance(users, Mapping)
                else {}
            )
            room.default_level = _level(content.get("users_default", 0))

    def set_summary(self, room_id: str, summary: object) -> None:
        if isinstance(summary, Mapping):
            count = summary.get("m.joined_member_count")
            if type(count) is int and count >= 0:
                self.room(room_id).joined_count = count

    def set_direct(self, content: object) -> None:
        """The bot's ``m.direct`` account data: ``{user_id: [room_id, ...]}``."""
        direct: dict[str, list[str]] = {}
        if isinstance(content, Mapping):
            for user, rooms in content.items():
                if isinstance(user, str) and isinstance(rooms, list):
                    direct[user] = [r for r in rooms if isinstance(r, str)]
        self.direct = direct
        self._direct_rooms = {room for rooms in direct.values() for room in rooms}

    def add_direct(self, user_id: str, room_id: str) -> bool:
        """Record ``room_id`` as a private chat with ``user_id``; False if it already was."""
        rooms = self.direct.setdefault(user_id, [])
        if room_id in rooms:
            return False
        rooms.append(room_id)
        self._direct_rooms.add(room_id)
        return True

    # --- questions -------------------------------------------------------------------------

    def is_direct(self, room_id: str) -> bool:
        if room_id in self._direct_rooms:
            return True
        room = self.rooms.get(room_id)
        return self.by_member_count and room is not None and room.member_count == 2

    def name_of(self, room_id: str, user_id: str) -> str:
        room = self.rooms.get(room_id)
        if room is not None:
            name = room.names.get(user_id)
            if name:
                return name
        return user_id

    def role_of(self, room_id: str, user_id: str) -> str:
        room = self.rooms.get(room_id)
        return room.role(user_id) if room is not None else "member"

    def remember_sender(self, event_id: str, sender: str) -> None:
        self._senders[event_id] = sender
        if len(self._senders) > _SENDERS_KEPT:
            self._senders.popitem(last=False)

    def sender_of(self, event_id: str) -> str | None:
        return self._senders.get(event_id)

    def spoke_privately(self, user_id: str, room_id: str) -> None:
        """``user_id`` wrote in the private room ``room_id``: answers to them go there."""
        self._last_private[user_id] = room_id

    def direct_room(self, user_id: str) -> str | None:
        """The joined private room with ``user_id``: the one they last wrote in, else one of
        ``m.direct``, else a joined two-member room of the two; ``None`` when there is none."""
        last = self._last_private.get(user_id)
        if last is not None and self.self_id in self._joined(last):
            return last
        for room_id in self.direct.get(user_id, ()):
            if self.self_id in self._joined(room_id):
                return room_id
        if self.by_member_count:
            for room in self.rooms.values():
                if room.joined == {self.self_id, user_id}:
                    return room.room_id
        return None

    def _joined(self, room_id: str) -> set[str]:
        room = self.rooms.get(room_id)
        return room.joined if room is not None else set()


def _level(value: object) -> int:
    # Power levels are integers, but old rooms carry strings ("50"); garbage counts as 0.
    if type(value) is int:
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return 0
    return 0
