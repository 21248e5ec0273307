"""``KeyValue``: one plugin's data that belongs to no user and no channel.

Usage::

    await self.kv.put("greeting", {"text": "hi", "enabled": True})
    await self.kv.get("greeting")           # {"text": "hi", "enabled": True}
    await self.kv.increment("visits")       # 1, atomically
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..exceptions import StoredValueError
from .backend import Bucket
from .values import unstorable

if TYPE_CHECKING:
    from .store import Storage

__all__ = ["KeyValue"]


class KeyValue:
    """One plugin's key-value data (AstrBot's ``put_kv_data`` / ``get_kv_data``): JSON values
    under string keys, on the app's storage.

    Usage::

        await self.kv.put("greeting", {"text": "hi", "enabled": True})
        await self.kv.get("greeting")           # {"text": "hi", "enabled": True}
        await self.kv.increment("visits")       # 1, atomically
    """

    __slots__ = ("_bucket", "_storage")

    def __init__(self, storage: Storage, plugin: str) -> None:
        self._storage = storage
        self._bucket = Bucket("kv", plugin, "")

    async def get(self, key: str, default: Any = None) -> Any:
        bucket = self._bucket
        found = await self._storage._run(lambda b: b.load(bucket, (key,)))
        return found.get(key, default)

    async def put(self, key: str, value: Any) -> None:
        bucket = self._bucket
        if not isinstance(key, str):
            raise StoredValueError(f"plugin {bucket.plugin}: a key is a str, not {key!r}")
        why = unstorable(value)
        if why is not None:
            raise StoredValueError(
                f"plugin {bucket.plugin}: the value for key {key!r} cannot be stored as JSON ({why})"
            )
        await self._storage._run(lambda b: b.write(bucket, {key: value}, {}))

    async def delete(self, key: str) -> bool:
        bucket = self._bucket
        return bool(await self._storage._run(lambda b: b.delete(bucket, (key,))))

    async def increment(self, key: str, by: int = 1) -> int:
        if type(by) is not int:
            raise StoredValueError(f"plugin {self._bucket.plugin}: increment {key!r} by an int")
        bucket = self._bucket
        counted = await self._storage._run(lambda b: b.write(bucket, {}, {key: (by, 0)}))
        return counted[key]

    async def keys(self) -> list[str]:
        bucket = self._bucket
        return await self._storage._run(lambda b: b.names(bucket))
