"""Several worker processes on one Redis (issue 14): the building blocks, not wired into the
App yet.

Nothing here is imported by ``import waiter_sdk``: single-process mode loads no Redis code.
``pip install 'waiter-sdk[redis]'`` brings redis-py.
"""

from __future__ import annotations

from .delivery import (
    Delivery,
    Inbox,
    Ledger,
    Outbox,
    assigned_shards,
    shard_for,
    shared_stream,
    worker_stream,
)
from .ownership import Claim, Claims, Ownership

__all__ = [
    "Claim",
    "Claims",
    "Delivery",
    "Inbox",
    "Ledger",
    "Outbox",
    "Ownership",
    "assigned_shards",
    "shard_for",
    "shared_stream",
    "worker_stream",
]
