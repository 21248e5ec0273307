"""Several worker processes on one Redis (issue 14): the building blocks, not wired into the
App yet.

Nothing here is imported by ``import waiter_sdk``: single-process mode loads no Redis code.
``pip install 'waiter-sdk[redis]'`` brings redis-py.
"""

from __future__ import annotations

from .ownership import Claim, Claims, Ownership

__all__ = ["Claim", "Claims", "Ownership"]
