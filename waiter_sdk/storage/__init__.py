"""Persistent plugin data: typed user and channel fields, and a key-value store per plugin.

Usage::

    from waiter_sdk.storage import Counter, Fields

    class Stats(Fields):
        wins: Counter = 0
        title: str = ""

    class Game(Plugin):
        name = "game"
        user_fields = Stats

        @command("win")
        async def win(self, event):
            stats = await event.observe_user(Stats)
            stats.wins += 1             # written back when this handler returns
            yield event.plain_result(f"{stats.wins} wins")

Importing ``waiter_sdk`` does not import this package, and this package imports no database
driver: the backend ``WAITER_STORAGE`` names is imported when the app opens its storage.
"""

from .address import open_backend, redact_url
from .backend import Backend, Bucket, Scope, channel_owner, user_owner
from .fields import Counter, Fields, FieldsSpec
from .kv import KeyValue
from .store import Storage, WriteBack

__all__ = [
    "Backend",
    "Bucket",
    "Counter",
    "Fields",
    "FieldsSpec",
    "KeyValue",
    "Scope",
    "Storage",
    "WriteBack",
    "channel_owner",
    "open_backend",
    "redact_url",
    "user_owner",
]
