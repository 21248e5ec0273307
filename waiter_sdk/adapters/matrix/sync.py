"""``SyncReader``: one ``/sync`` answer read into room state, invites and dispatched messages.

Usage::

    reader = SyncReader(rooms, dispatch=app.dispatch, adapter=adapter)
    batch = reader.read(payload, backlog=False)   # dispatches every new message, in order
    batch.next_batch, batch.invites

``backlog=True`` (the very first sync of an account, with no position stored) takes state and
invites but dispatches no message: the bot does not answer history. In every sync, the messages
of a room that precede the bot's own join in that batch are skipped too: a room joined just now
shows some of its past, which is history as well.

Hostile answers: an answer that is not an object or has no ``next_batch`` is an ``EventError``
(nothing in it can be trusted to move on). Anything wrong inside it (a room that is a list, an
event with a numeric sender, content that is a string) is logged with a short excerpt and
skipped, and the other rooms and events of the batch are handled as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...events import MessageEvent, MessageSink
from ...exceptions import EventError
from .events import parse_message
from .log import excerpt, log
from .rooms import Rooms

__all__ = ["Batch", "Invite", "SyncReader"]


@dataclass(frozen=True, slots=True)
class Invite:
    """An invitation the bot received: the room, who invited, and whether it is a direct chat."""

    room_id: str
    inviter: str | None
    is_direct: bool


@dataclass(slots=True)
class Batch:
    """What one sync answer asks of the adapter besides dispatching."""

    next_batch: str
    invites: list[Invite] = field(default_factory=list)
    messages: int = 0
    dropped: int = 0


class SyncReader:
    """Reads sync answers for one account; see the module docstring."""

    def __init__(
        self,
        rooms: Rooms,
        *,
        dispatch: Callable[[MessageEvent], None],
        adapter: MessageSink | None = None,
        hidden: tuple[str, ...] = (),
    ) -> None:
        self.rooms = rooms
        self._dispatch = dispatch
        self._adapter = adapter
        self._hidden = hidden

    def read(self, payload: object, *, backlog: bool) -> Batch:
        if not isinstance(payload, Mapping):
            raise EventError(f"a sync answer is a JSON object, not {type(payload).__name__}")
        next_batch = payload.get("next_batch")
        if not isinstance(next_batch, str) or not next_batch:
            raise EventError("a sync answer without a next_batch token")
        batch = Batch(next_batch)
        self._account_data(payload.get("account_data"), batch)
        rooms = payload.get("rooms")
        if rooms is None:
            return batch
        if not isinstance(rooms, Mapping):
            self._drop(batch, "rooms is not an object", rooms)
            return batch
        for room_id, _room in self._entries(rooms.get("leave"), "rooms.leave", batch):
            self.rooms.forget(room_id)
        for room_id, room in self._entries(rooms.get("invite"), "rooms.invite", batch):
            invite = self._invite(room_id, room, batch)
            if invite is not None:
                batch.invites.append(invite)
        for room_id, room in self._entries(rooms.get("join"), "rooms.join", batch):
            self._joined(room_id, room, backlog, batch)
        return batch

    # --- parts -------------------------------------------------------------------------------

    def _account_data(self, data: object, batch: Batch) -> None:
        if _bad_shape(data):
            self._drop(batch, "account_data is not {events: [...]}", data)
        for event in _events(data):
            if isinstance(event, Mapping) and event.get("type") == "m.direct":
                self.rooms.set_direct(event.get("content"))

    def _entries(
        self, section: object, where: str, batch: Batch
    ) -> list[tuple[str, Mapping[str, Any]]]:
        if section is None:
            return []
        if not isinstance(section, Mapping):
            self._drop(batch, f"{where} is not an object", section)
            return []
        entries = []
        for room_id, room in section.items():
            if isinstance(room_id, str) and room_id.startswith("!") and isinstance(room, Mapping):
                entries.append((room_id, room))
            else:
                self._drop(batch, f"{where}: not a room", {room_id: room})
        return entries

    def _invite(self, room_id: str, room: Mapping[str, Any], batch: Batch) -> Invite | None:
        state = room.get("invite_state")
        inviter: str | None = None
        is_direct = False
        for event in _events(state):
            if (
                isinstance(event, Mapping)
                and event.get("type") == "m.room.member"
                and event.get("state_key") == self.rooms.self_id
            ):
                content = event.get("content")
                if isinstance(content, Mapping) and content.get("membership") == "invite":
                    sender = event.get("sender")
                    inviter = sender if isinstance(sender, str) else None
                    is_direct = content.get("is_direct") is True
                    return Invite(room_id, inviter, is_direct)
        if _bad_shape(state):
            self._drop(batch, f"invite to {room_id}: invite_state is not {{events: [...]}}", state)
        # An invite the answer does not explain (no member event of ours): still an invite.
        return Invite(room_id, inviter, is_direct)

    def _joined(self, room_id: str, room: Mapping[str, Any], backlog: bool, batch: Batch) -> None:
        rooms = self.rooms
        rooms.room(room_id)  # known even when no state came with it
        rooms.set_summary(room_id, room.get("summary"))
        for part in ("state", "timeline"):
            if _bad_shape(room.get(part)):
                self._drop(batch, f"{room_id}: {part} is not {{events: [...]}}", room.get(part))
        for event in _events(room.get("state")):
            self._state(room_id, event, batch)
        timeline = _events(room.get("timeline"))
        start = 0
        for index, event in enumerate(timeline):
            # Our own join in this batch: what came before it is the room's past.
            if (
                isinstance(event, Mapping)
                and event.get("type") == "m.room.member"
                and event.get("state_key") == rooms.self_id
                and isinstance(event.get("content"), Mapping)
                and event["content"].get("membership") == "join"
            ):
                start = index + 1
        for index, event in enumerate(timeline):
            if not isinstance(event, Mapping):
                self._drop(batch, f"{room_id}: an event is not an object", event)
                continue
            if "state_key" in event:
                self._state(room_id, event, batch)
                continue
            if event.get("type") != "m.room.message" or backlog or index < start:
                continue
            self._message(room_id, event, batch)

    def _state(self, room_id: str, event: object, batch: Batch) -> None:
        if not isinstance(event, Mapping):
            self._drop(batch, f"{room_id}: a state event is not an object", event)
            return
        try:
            self.rooms.apply_state(room_id, event)
        except TypeError as exc:
            self._drop(batch, f"{room_id}: unreadable state ({exc})", event)

    def _message(self, room_id: str, event: Mapping[str, Any], batch: Batch) -> None:
        try:
            message = parse_message(room_id, event, self.rooms, adapter=self._adapter)
        except EventError as exc:
            self._drop(batch, f"{room_id}: {exc}", event)
            return
        if message is None:
            return
        self.rooms.remember_sender(message.message_id, message.sender_id)
        batch.messages += 1
        try:
            self._dispatch(message)
        except Exception:
            # Whatever went wrong belongs to this event; the sync loop must live on.
            log.exception("matrix: dispatching {!r} failed", message.message_id)

    def _drop(self, batch: Batch, why: str, value: object) -> None:
        batch.dropped += 1
        log.warning(
            "matrix: dropped unreadable sync data ({}): {}", why, excerpt(value, self._hidden)
        )


def _events(section: object) -> list[Any]:
    """``section["events"]`` when it is a list, else nothing (``_shape`` logs hostile shapes)."""
    if isinstance(section, Mapping):
        events = section.get("events")
        if isinstance(events, list):
            return events
    return []


def _bad_shape(section: object) -> bool:
    """A section that is there but not ``{"events": [...]}`` (absent ones are fine)."""
    if section is None:
        return False
    if not isinstance(section, Mapping):
        return True
    events = section.get("events")
    return events is not None and not isinstance(events, list)
