"""``Backend``: the few operations every database behind ``Storage`` provides.

A backend stores *records*: a ``Bucket`` (whose data it is: one user's, one channel's, or one
plugin's key-value store) holds named fields, each a JSON value. Counters are fields written by
increment, atomically in the database, so concurrent writers never lose an update. Backends
know nothing of plugins' models: ``Storage`` validates, a backend only moves JSON values.

Usage (what ``Storage`` does; plugins never call a backend)::

    bucket = Bucket("user", "quiz", "sim:alice")
    await backend.write(bucket, {"title": "sage"}, {"played": (1, 0)})
    await backend.load(bucket)      # {"title": "sage", "played": 1}
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Backend", "Bucket", "Scope", "channel_owner", "user_owner"]

Scope = Literal["user", "channel", "kv"]


@dataclass(frozen=True, slots=True)
class Bucket:
    """Whose data: ``scope`` (user, channel or kv), the ``plugin`` that declared it, and the
    ``owner`` (``"<platform>:<user id>"``, ``"<platform>:<group id>"``; ``""`` for kv).

    Each backend stores the three parts apart (columns, or an escaped key), so no id can reach
    another plugin's or another owner's record.
    """

    scope: Scope
    plugin: str
    owner: str


def _quote(part: str) -> str:
    # Owners are "<platform>:<id>"; a ":" in a platform name must not make two owners alike.
    return part.replace("%", "%25").replace(":", "%3A")


def user_owner(platform: str, user_id: str) -> str:
    """The owner string of a user's record: ``"<platform>:<user id>"``."""
    return f"{_quote(platform)}:{user_id}"


def channel_owner(platform: str, group_id: str | None, user_id: str | None = None) -> str:
    """The owner of a channel's record: ``"<platform>:g<group id>"``, or ``"<platform>:p<user
    id>"`` for a private chat (the same ``g`` / ``p`` marks as session keys)."""
    if group_id is not None:
        return f"{_quote(platform)}:g{group_id}"
    if user_id is None:
        raise ValueError("a channel is a group or a private chat with a user")
    return f"{_quote(platform)}:p{user_id}"


class Backend(ABC):
    """A database for ``Storage``. Every method may raise ``StorageError``."""

    #: What ``WAITER_STORAGE`` said, for error messages (never a password).
    describe: str = ""

    @abstractmethod
    async def open(self) -> None:
        """Connect, create what is missing; raise ``StorageError`` if the database is unusable."""

    @abstractmethod
    async def close(self) -> None:
        """Finish pending writes and disconnect."""

    @abstractmethod
    async def load(self, bucket: Bucket, names: Iterable[str] | None = None) -> dict[str, Any]:
        """The stored fields of ``bucket`` (only ``names`` if given); absent ones are left out."""

    @abstractmethod
    async def write(
        self,
        bucket: Bucket,
        values: Mapping[str, Any],
        increments: Mapping[str, tuple[int, int]],
    ) -> dict[str, int]:
        """Set ``values`` and add to counters, in one atomic step; return the counters' new values.

        ``increments`` maps a field to ``(delta, default)``: a counter not stored yet starts
        from ``default``.
        """

    @abstractmethod
    async def delete(self, bucket: Bucket, names: Iterable[str]) -> int:
        """Remove fields of ``bucket``; how many were there."""

    @abstractmethod
    async def names(self, bucket: Bucket) -> list[str]:
        """The stored field names of ``bucket``, sorted."""

    @abstractmethod
    async def owners(self, scope: Scope, plugin: str, prefix: str = "") -> list[str]:
        """Every owner of ``scope`` records of ``plugin`` whose id starts with ``prefix``."""

    # --- schema: the declared fields of each (scope, plugin), kept beside the data ----------

    @abstractmethod
    async def schema(self, scope: Scope, plugin: str) -> dict[str, str]:
        """The fields recorded for ``(scope, plugin)`` and their type names."""

    @abstractmethod
    async def add_fields(self, scope: Scope, plugin: str, types: Mapping[str, str]) -> None:
        """Record new fields (or a field's new type name)."""

    @abstractmethod
    async def drop_field(self, scope: Scope, plugin: str, name: str) -> int:
        """Delete a field from the schema and from every record; how many records held it."""

    @abstractmethod
    async def rename_field(self, scope: Scope, plugin: str, old: str, new: str) -> int:
        """Rename a field in the schema and in every record; how many records held it."""
