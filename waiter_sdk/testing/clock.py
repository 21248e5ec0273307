"""``VirtualClock``: make the running loop's clock stand still until told to move.

Usage::

    clock = VirtualClock.install()          # on the running loop
    await clock.advance(3600)               # fires every timer due within the hour, in order
    clock.uninstall()

The SDK reads time only from ``loop.time()``, so replacing that one method on the running loop
instance is all it takes; no sleeping, no patched ``time`` module. Between timers, the clock
lets every ready task run until the loop is idle, so callbacks see time move the way it would.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["NotIdleError", "VirtualClock"]


class NotIdleError(RuntimeError):
    """The loop never became idle: some task keeps rescheduling itself without waiting on time."""


class VirtualClock:
    """A frozen clock for one running loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        if not isinstance(loop, asyncio.BaseEventLoop):
            raise TypeError(
                f"virtual time needs an asyncio.BaseEventLoop, not {type(loop).__name__} "
                "(uvloop's clock cannot be replaced)"
            )
        self._loop: Any = loop
        self._now = loop.time()
        self._installed = False

    @classmethod
    def install(cls, loop: asyncio.AbstractEventLoop | None = None) -> VirtualClock:
        clock = cls(loop or asyncio.get_running_loop())
        clock._loop.time = clock.time
        clock._installed = True
        return clock

    def uninstall(self) -> None:
        if self._installed:
            del self._loop.time
            self._installed = False

    def time(self) -> float:
        return self._now

    def _next_timer(self) -> float | None:
        scheduled = self._loop._scheduled
        if not scheduled:
            return None
        top = scheduled[0]
        if not top._cancelled:
            return float(top._when)
        live = [h._when for h in scheduled if not h._cancelled]
        return float(min(live)) if live else None

    def _busy(self) -> bool:
        if self._loop._ready:
            return True
        when = self._next_timer()
        return when is not None and when <= self._now

    async def settle(self, max_rounds: int = 100_000) -> None:
        """Let every ready task and due timer run, until the loop has nothing left to do now."""
        quiet = 0
        for _ in range(max_rounds):
            await asyncio.sleep(0)
            if self._busy():
                quiet = 0
                continue
            quiet += 1
            if quiet >= 2:
                return
        raise NotIdleError(
            f"the loop was still busy after {max_rounds} rounds; a task may be spinning"
        )

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, stopping at each timer on the way so it fires on time."""
        if seconds < 0:
            raise ValueError(f"time cannot go back ({seconds} s)")
        target = self._now + seconds
        await self.settle()
        while True:
            when = self._next_timer()
            if when is None or when > target:
                break
            self._now = max(self._now, when)
            await self.settle()
        self._now = target
        await self.settle()
