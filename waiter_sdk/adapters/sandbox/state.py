"""What the sandbox remembers: people, groups, a bounded history per conversation, the log.

Usage::

    state = SandboxState(history_limit=200)
    record = state.record("group:g1", "alice", chain, message_id="7", now=loop.time())
    state.snapshot_conversations()      # {"group:g1": [record, ...], ...}

Records are plain JSON-ready dicts: the page renders them, so their shape is the protocol.
Nothing here touches the network, so the server and the tests share it.
"""

from __future__ import annotations

import itertools
import re
from collections import deque
from typing import Any

from ...events import At, AtAll, Component, Face, Image, MessageChain, Plain, Reply, Segment

__all__ = ["BOT_ID", "BOT_NAME", "Record", "SandboxState", "render_chain"]

BOT_ID = "bot"
BOT_NAME = "Bot"
DEFAULT_USERS = (("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol"))
DEFAULT_GROUPS = (("g1", "Group 1"),)
# Base64 images bigger than this are shown by name only: history is kept in memory and resent
# to every page that connects.
MAX_INLINE_IMAGE = 256 * 1024
Record = dict[str, Any]


def _render_image(image: Image) -> Record:
    source = image.url or image.file
    if source.startswith(("http://", "https://")):
        return {"type": "image", "url": source}
    if source.startswith("base64://") and len(source) <= MAX_INLINE_IMAGE:
        return {"type": "image", "url": "data:image/png;base64," + source[len("base64://") :]}
    # Local paths and oversized data stay on the server; the page shows the name as text.
    return {"type": "image", "url": None, "label": source[:200]}


def render_chain(chain: MessageChain, names: dict[str, str]) -> list[Record]:
    """The components of ``chain`` as page segments (quotes are carried separately)."""
    parts: list[Record] = []
    for component in chain:
        if isinstance(component, Plain):
            parts.append({"type": "text", "text": component.content})
        elif isinstance(component, At):
            name = component.name or names.get(component.user_id, component.user_id)
            parts.append({"type": "at", "user_id": component.user_id, "name": name})
        elif isinstance(component, AtAll):
            parts.append({"type": "at_all"})
        elif isinstance(component, Image):
            parts.append(_render_image(component))
        elif isinstance(component, Face):
            parts.append({"type": "face", "id": component.id})
        elif isinstance(component, Reply):
            continue
        elif isinstance(component, Segment):
            parts.append({"type": "other", "kind": component.kind})
        else:
            parts.append({"type": "other", "kind": _component_kind(component)})
    return parts


def _component_kind(component: Component) -> str:
    return component.type or type(component).__name__


def _quoted_id(chain: MessageChain, reply_to: str | None) -> str | None:
    if reply_to is not None:
        return reply_to
    for component in chain:
        if isinstance(component, Reply):
            return component.message_id
    return None


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "", name.lower())[:24]


class SandboxState:
    """People, groups, messages and the event log of one sandbox, all bounded."""

    def __init__(
        self,
        history_limit: int = 200,
        log_limit: int = 300,
        max_users: int = 50,
        max_groups: int = 20,
    ) -> None:
        self.history_limit = history_limit
        self.max_users = max_users
        self.max_groups = max_groups
        self.users: dict[str, str] = dict(DEFAULT_USERS)
        self.groups: dict[str, str] = dict(DEFAULT_GROUPS)
        self.roles: dict[str, str] = {}  # user id -> "admin" / "owner"; absent: "member"
        self.log: deque[Record] = deque(maxlen=log_limit)
        self._history: dict[str, deque[Record]] = {}
        self._index: dict[str, Record] = {}
        self._ids = itertools.count(1)

    # --- people and groups ---------------------------------------------------------------

    def names(self) -> dict[str, str]:
        return {**self.users, BOT_ID: BOT_NAME}

    def user_list(self) -> list[Record]:
        return [
            {"id": uid, "name": name, "role": self.roles.get(uid, "member")}
            for uid, name in self.users.items()
        ]

    def set_role(self, user_id: str, role: str) -> None:
        if user_id not in self.users:
            raise ValueError(f"there is no user {user_id!r}")
        if role == "member":
            self.roles.pop(user_id, None)
        else:
            self.roles[user_id] = role

    def group_list(self) -> list[Record]:
        return [{"id": gid, "name": name} for gid, name in self.groups.items()]

    def check_name(self, name: str, *, exclude: str | None = None) -> None:
        """Names are how the page turns "@Bob" into a mention, so they must be unambiguous."""
        if name in (BOT_NAME, "all"):
            raise ValueError(f"the name {name!r} is reserved")
        for uid, held in self.users.items():
            if held == name and uid != exclude:
                raise ValueError(f"the name {name!r} is already taken")

    def add_user(self, name: str, user_id: str | None = None) -> str:
        if len(self.users) >= self.max_users:
            raise ValueError(f"the sandbox holds at most {self.max_users} users")
        self.check_name(name)
        if user_id is None:
            user_id = self._free_id(_slug(name) or "user", self.users)
        elif user_id in self.users or user_id == BOT_ID:
            raise ValueError(f"the user id {user_id!r} is already taken")
        self.users[user_id] = name
        return user_id

    def rename_user(self, user_id: str, name: str) -> None:
        if user_id not in self.users:
            raise ValueError(f"there is no user {user_id!r}")
        self.check_name(name, exclude=user_id)
        self.users[user_id] = name

    def add_group(self, name: str, group_id: str | None = None) -> str:
        if len(self.groups) >= self.max_groups:
            raise ValueError(f"the sandbox holds at most {self.max_groups} groups")
        if group_id is None:
            group_id = self._free_id("g", self.groups, always_number=True)
        elif group_id in self.groups:
            raise ValueError(f"the group id {group_id!r} is already taken")
        self.groups[group_id] = name
        return group_id

    def restore(
        self,
        users: list[tuple[str, str]],
        groups: list[tuple[str, str]],
        roles: dict[str, str] | None = None,
    ) -> None:
        """Take back users and groups a page knew before a restart; skip what clashes now."""
        for user_id, name in users:
            if user_id not in self.users:
                try:
                    self.add_user(name, user_id)
                except ValueError:
                    continue  # the name was taken meanwhile, or the sandbox is full
        for user_id, role in (roles or {}).items():
            if user_id in self.users and user_id not in self.roles:
                self.set_role(user_id, role)
        for group_id, name in groups:
            if group_id not in self.groups and len(self.groups) < self.max_groups:
                self.groups[group_id] = name

    @staticmethod
    def _free_id(base: str, taken: dict[str, str], *, always_number: bool = False) -> str:
        if not always_number and base not in taken and base != BOT_ID:
            return base
        for n in itertools.count(2 if not always_number else 1):
            candidate = f"{base}{n}"
            if candidate not in taken and candidate != BOT_ID:
                return candidate
        raise AssertionError("unreachable")

    # --- conversations -------------------------------------------------------------------

    def conv_exists(self, conv: str) -> bool:
        kind, _, ident = conv.partition(":")
        if kind == "group":
            return ident in self.groups
        return kind == "private" and ident in self.users

    def conv_label(self, conv: str) -> str:
        kind, _, ident = conv.partition(":")
        if kind == "group":
            return self.groups.get(ident, ident)
        return f"{self.users.get(ident, ident)} (private)"

    def next_id(self) -> str:
        return str(next(self._ids))

    def get(self, message_id: str) -> Record | None:
        return self._index.get(message_id)

    def record(
        self,
        conv: str,
        sender_id: str,
        chain: MessageChain,
        *,
        message_id: str,
        now: float,
        reply_to: str | None = None,
    ) -> Record:
        """Build the page record of a message and keep it in the conversation's history."""
        names = self.names()
        quote_id = _quoted_id(chain, reply_to)
        quote: Record | None = None
        if quote_id is not None:
            quoted = self._index.get(quote_id)
            if quoted is None:
                quote = {"id": quote_id, "missing": True}
            else:
                quote = {
                    "id": quote_id,
                    "sender_id": quoted["sender_id"],
                    "sender_name": quoted["sender_name"],
                    "text": _preview(quoted),
                }
        record: Record = {
            "id": message_id,
            "conv": conv,
            "sender_id": sender_id,
            "sender_name": names.get(sender_id, sender_id),
            "bot": sender_id == BOT_ID,
            "t": now,
            "parts": render_chain(chain, names),
            "quote": quote,
        }
        history = self._history.get(conv)
        if history is None:
            history = self._history[conv] = deque()
        if len(history) >= self.history_limit:
            dropped = history.popleft()
            self._index.pop(dropped["id"], None)
        history.append(record)
        self._index[message_id] = record
        return record

    def system_line(self, conv: str, text: str, *, message_id: str, now: float) -> Record:
        """A line of the sandbox itself in ``conv`` ("the session was closed"), kept in its
        history like a message so that a page connecting later shows it too."""
        record: Record = {
            "id": message_id,
            "conv": conv,
            "system": True,
            "sender_id": "",
            "sender_name": "",
            "bot": False,
            "t": now,
            "parts": [{"type": "text", "text": text}],
            "quote": None,
        }
        history = self._history.get(conv)
        if history is None:
            history = self._history[conv] = deque()
        if len(history) >= self.history_limit:
            self._index.pop(history.popleft()["id"], None)
        history.append(record)
        return record

    def history(self, conv: str) -> list[Record]:
        return list(self._history.get(conv, ()))

    def snapshot_conversations(self) -> dict[str, list[Record]]:
        return {conv: list(records) for conv, records in self._history.items() if records}

    def add_log(self, entry: Record) -> Record:
        self.log.append(entry)
        return entry


def _preview(record: Record, limit: int = 80) -> str:
    pieces: list[str] = []
    for part in record["parts"]:
        kind = part["type"]
        if kind == "text":
            pieces.append(part["text"])
        elif kind == "at":
            pieces.append("@" + part["name"])
        elif kind == "at_all":
            pieces.append("@all")
        elif kind == "image":
            pieces.append("[image]")
        else:
            pieces.append(f"[{part.get('kind', kind)}]")
    text = " ".join("".join(pieces).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
