"""``MemoryBackend``: records in dicts, for the Simulator and tests; gone when the process ends.

Usage::

    WAITER_STORAGE=memory waiter-sdk run       # the Simulator's default

Values are kept JSON-encoded, as the real databases keep them, so a test on memory sees the same
round trip (a tuple comes back a list, a set is refused) as production on SQLite or Redis.
Every method finishes without waiting, so virtual time never has to wait for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from ..exceptions import StoredValueError
from .backend import Backend, Bucket, Scope

__all__ = ["MemoryBackend"]


class MemoryBackend(Backend):
    describe = "memory"

    def __init__(self) -> None:
        self._records: dict[Bucket, dict[str, bytes]] = {}
        self._schemas: dict[tuple[str, str], dict[str, str]] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def load(self, bucket: Bucket, names: Iterable[str] | None = None) -> dict[str, Any]:
        record = self._records.get(bucket)
        if not record:
            return {}
        if names is None:
            return {name: orjson.loads(raw) for name, raw in record.items()}
        return {name: orjson.loads(record[name]) for name in names if name in record}

    async def write(
        self,
        bucket: Bucket,
        values: Mapping[str, Any],
        increments: Mapping[str, tuple[int, int]],
    ) -> dict[str, int]:
        # Encode first: a value that cannot be stored leaves the record as it was.
        encoded = {name: orjson.dumps(value) for name, value in values.items()}
        record = self._records.get(bucket, {})
        counted: dict[str, int] = {}
        for name, (delta, default) in increments.items():
            raw = record.get(name)
            held = orjson.loads(raw) if raw is not None else default
            if type(held) is not int:
                raise StoredValueError(
                    f"plugin {bucket.plugin}: {name!r} of {bucket.owner or 'its key-value data'}"
                    " holds something other than an integer; it cannot be incremented"
                )
            counted[name] = held + delta
        # Applied only once every counter could be: a failed write changes nothing.
        record.update(encoded)
        for name, value in counted.items():
            record[name] = orjson.dumps(value)
        if record:
            self._records[bucket] = record
        return counted

    async def delete(self, bucket: Bucket, names: Iterable[str]) -> int:
        record = self._records.get(bucket)
        if record is None:
            return 0
        removed = sum(record.pop(name, None) is not None for name in names)
        if not record:
            del self._records[bucket]
        return removed

    async def names(self, bucket: Bucket) -> list[str]:
        return sorted(self._records.get(bucket, ()))

    async def owners(self, scope: Scope, plugin: str, prefix: str = "") -> list[str]:
        return sorted(
            b.owner
            for b in self._records
            if b.scope == scope and b.plugin == plugin and b.owner.startswith(prefix)
        )

    async def schema(self, scope: Scope, plugin: str) -> dict[str, str]:
        return dict(self._schemas.get((scope, plugin), {}))

    async def add_fields(self, scope: Scope, plugin: str, types: Mapping[str, str]) -> None:
        self._schemas.setdefault((scope, plugin), {}).update(types)

    async def drop_field(self, scope: Scope, plugin: str, name: str) -> int:
        self._schemas.get((scope, plugin), {}).pop(name, None)
        held = 0
        for bucket, record in self._records.items():
            if bucket.scope == scope and bucket.plugin == plugin and name in record:
                del record[name]
                held += 1
        return held

    async def rename_field(self, scope: Scope, plugin: str, old: str, new: str) -> int:
        schema = self._schemas.setdefault((scope, plugin), {})
        if old in schema:
            schema[new] = schema.pop(old)
        held = 0
        for bucket, record in self._records.items():
            if bucket.scope == scope and bucket.plugin == plugin and old in record:
                record[new] = record.pop(old)
                held += 1
        return held
