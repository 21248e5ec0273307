"""``VirtualClock``: make the running loop's clock stand still until told to move.

Usage::

    clock = VirtualClock.install()          # on the running loop; clock.time() == 0.0
    await clock.advance(3600)               # fires every timer due within the hour, in order
    clock.uninstall()

The SDK reads time only from ``loop.time()``, so replacing that one method on the running loop
instance is all it takes; no sleeping, no patched ``time`` module. Between timers, the clock
lets every ready task run until the loop is idle, so callbacks see time move the way it would.

Virtual time starts at ``ORIGIN`` (0.0), not at the real clock's value: sums of whole and
half seconds are then exact, so a test computes the same deadline on every machine (from the
machine's uptime, ``5 + 30`` could come out as ``34.99999999999997``). Timers that were already
scheduled when the clock is installed keep their distance from "now", in both directions.

One loop has one virtual clock: a second ``install()`` on the same loop (a second Simulator
in one test) returns the clock already there, and the real clock comes back when the last
user has called ``uninstall()``.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

__all__ = ["ORIGIN", "NotIdleError", "VirtualClock"]

ORIGIN = 0.0
"""Where virtual time starts: exactly representable, the same on every machine."""

T = TypeVar("T")


class NotIdleError(RuntimeError):
    """The loop never became idle: some task keeps rescheduling itself without waiting on time."""


def _call(source: Callable[[], Awaitable[None] | None]) -> Awaitable[None] | None:
    return source()


class VirtualClock:
    """A frozen clock for one running loop."""

    _installed: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, VirtualClock]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        if not isinstance(loop, asyncio.BaseEventLoop):
            raise TypeError(
                f"virtual time needs an asyncio.BaseEventLoop, not {type(loop).__name__} "
                "(uvloop's clock cannot be replaced)"
            )
        self._loop: Any = loop
        self._now = ORIGIN
        self._users = 0
        # Work the loop waits for outside itself (an SQLite thread): each source returns an
        # awaitable while its work is in flight, else None. settle() waits on it in real time,
        # never moving the virtual clock, so a write that takes 2 ms takes 0 s of virtual time.
        self._sources: list[Callable[[], Awaitable[None] | None]] = []

    def wait_for(self, source: Callable[[], Awaitable[None] | None]) -> Callable[[], None]:
        """Have ``settle`` also wait until ``source()`` returns None; returns the undo."""
        self._sources.append(source)
        return lambda: self._sources.remove(source) if source in self._sources else None

    @classmethod
    def install(cls, loop: asyncio.AbstractEventLoop | None = None) -> VirtualClock:
        """The virtual clock of ``loop`` (default: the running loop), installed if need be.

        Each call must be matched by one ``uninstall()``.
        """
        loop = loop or asyncio.get_running_loop()
        clock = cls._installed.get(loop)
        if clock is None:
            clock = cls(loop)
            # Timers already on the loop were set on the real clock: move them onto the
            # virtual one at the same distance from now, so their order and delays hold.
            clock._shift(ORIGIN - type(loop).time(loop))
            clock._loop.time = clock.time
            cls._installed[loop] = clock
        clock._users += 1
        return clock

    def uninstall(self) -> None:
        """Give the loop its real clock back once every ``install()`` has been undone."""
        if self._users == 0:
            return
        self._users -= 1
        if self._users:
            return
        loop = self._loop
        del loop.time
        if VirtualClock._installed.get(loop) is self:
            del VirtualClock._installed[loop]
        # Timers set in virtual time (say, a session's deadline in a test that ends early)
        # stay the same distance ahead on the real clock.
        self._shift(type(loop).time(loop) - self._now)

    @property
    def installed(self) -> bool:
        return self._users > 0

    def time(self) -> float:
        return self._now

    def _shift(self, delta: float) -> None:
        # A uniform shift keeps the loop's heap ordered, so no re-heapify is needed.
        for handle in self._loop._scheduled:
            handle._when += delta

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
                outside = next((w for w in map(_call, self._sources) if w is not None), None)
                if outside is None:
                    return
                await outside
                quiet = 0
        raise NotIdleError(
            f"the loop was still busy after {max_rounds} rounds; a task may be spinning"
        )

    async def run(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable``, moving time on to the next timer whenever nothing else can run.

        For waits that only time ends, such as ``App.stop()`` giving a handler that sleeps in
        its ``finally`` its grace period: in virtual time nothing else would ever move the clock.
        """
        task = asyncio.ensure_future(awaitable)
        while not task.done():
            await self.settle()
            if task.done():
                break
            when = self._next_timer()
            if when is None:
                break  # no timer can end it: only the task itself can (its I/O, say)
            self._now = max(self._now, when)
        return await task

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
