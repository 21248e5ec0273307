"""``Position``: where the last /sync of an account ended, kept in the app's storage.

Usage::

    position = Position(app.storage, "@bot:example.org")
    since = await position.load()     # None on the very first start (or storage unavailable)
    await position.save(batch.next_batch)

The token lives in the key-value data of the storage ``WAITER_STORAGE`` names (SQLite
``data/waiter.db`` by default), under the bucket ``adapter:matrix`` (no plugin is called that)
and one key per account, so one database serves several bots. Storage trouble never stops the
bot: an unreadable position counts as a first start (the backlog is skipped, nothing replayed)
and a failed write is logged once until a write works again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...exceptions import StorageError
from .log import log

if TYPE_CHECKING:
    from ...storage.store import Storage

__all__ = ["BUCKET", "Position"]

BUCKET = "adapter:matrix"


class Position:
    """The stored ``next_batch`` of one account (see the module docstring)."""

    def __init__(self, storage: Storage | None, user_id: str) -> None:
        self._kv = storage.kv(BUCKET) if storage is not None else None
        self._key = f"since {user_id}"
        self._saved: str | None = None
        self._failing = False

    async def load(self) -> str | None:
        if self._kv is None:
            return None
        try:
            value = await self._kv.get(self._key)
        except StorageError as exc:
            log.warning("matrix: no stored sync position, starting afresh: {}", exc)
            return None
        if isinstance(value, str) and value:
            self._saved = value
            return value
        return None

    async def save(self, since: str) -> None:
        # A position, not a secret: a plain comparison is fine (and it is named so).
        if self._kv is None or since == self._saved:
            return
        try:
            await self._kv.put(self._key, since)
        except StorageError as exc:
            if not self._failing:
                log.warning(
                    "matrix: cannot store the sync position (a restart would skip what "
                    "came meanwhile): {}",
                    exc,
                )
            self._failing = True
            return
        if self._failing:
            log.info("matrix: the sync position is stored again")
        self._failing = False
        self._saved = since
