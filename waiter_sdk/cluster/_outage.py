"""``Outage``: one ERROR line when a worker loses the cluster's Redis, one INFO line when it is back.

A worker talks to Redis from several loops at once (reading events, heartbeats, acks, session
claims). When the server goes away every one of them fails, every time it retries; an operator
must see one clear line naming the setting and the address, not a screenful, and one line when
it recovers. Each loop reports its failures and successes here; only the first failure of an
outage is logged at ERROR (the rest at DEBUG), and the first success after it at INFO.
"""

from __future__ import annotations

from collections.abc import Callable

from loguru import logger

__all__ = ["Outage"]


class Outage:
    """Whether the cluster's Redis is currently failing, as one worker sees it.

    Usage: ``outage.failed(exc)`` in every ``except`` around a cluster Redis call, and
    ``outage.ok()`` after every call that answered.
    """

    __slots__ = ("address", "down", "failures", "on_down", "who")

    def __init__(
        self, address: str, who: str = "this worker", on_down: Callable[[], None] | None = None
    ) -> None:
        self.address = address  # the redacted WAITER_CLUSTER__REDIS, for the lines below
        self.who = who  # "worker w1": several may log to one place
        # Called once per outage: the worker drops its idle pooled connections, which would
        # each fail once more on first use if the server restarted (a plugin's send among
        # them), as the client retries nothing on its own.
        self.on_down = on_down
        self.down = False
        self.failures = 0  # failed calls during the current outage

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        if self.down:
            logger.debug("cluster Redis still failing: {}", exc)
            return
        self.down = True
        if self.on_down is not None:
            self.on_down()
        # The error's own text already names the server and what failed (cluster/_redis.py).
        logger.error(
            "{}: {}; it keeps its open sessions and retries until Redis answers again "
            "(setting WAITER_CLUSTER__REDIS={})",
            self.who,
            exc,
            self.address,
        )

    def ok(self) -> None:
        if self.down:
            self.down = False
            logger.info(
                "{}: the cluster's Redis (WAITER_CLUSTER__REDIS={}) answers again after {} "
                "failed calls; sessions are claimed again and events flow",
                self.who,
                self.address,
                self.failures,
            )
            self.failures = 0
