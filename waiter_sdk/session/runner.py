"""``Runner``: start waiter calls without a task per message.

A message for an idle session schedules it here. One runner task then starts the scheduled calls
one after another, each in its own session context. A call that finishes without waiting (update
some state, ``keep``, ``stop``) costs no task of its own. A call that does wait keeps the runner
task: from then on that task belongs to that call (so ``asyncio.current_task()`` seen by the call,
say by ``asyncio.timeout`` or aiohttp, is the task that goes on driving it), and a fresh runner
takes over the rest of the queue, in order.

This is Python 3.12's eager task start, done at the session layer so that it works on 3.11 and
costs one task per burst instead of one per message.
"""

from __future__ import annotations

import asyncio
import contextvars
import types
from collections import deque
from collections.abc import Coroutine, Generator
from typing import TYPE_CHECKING, Any

from ..tasks import TaskSet
from .context import current_session

if TYPE_CHECKING:
    from .seams import Runnable

__all__ = ["Runner"]


@types.coroutine
def _resume(coro: Coroutine[Any, Any, object], pending: Any) -> Generator[Any, Any, None]:
    """Go on driving ``coro``, which has just yielded ``pending`` to whoever steps it.

    The task awaiting this generator receives ``pending`` exactly as if it had stepped ``coro``
    itself: a future (with its blocking flag still set) or ``None`` (a bare yield). Whatever the
    task sends or throws back goes to ``coro`` at the point where it stopped.
    """
    while True:
        try:
            yield pending
        except BaseException as exc:  # cancellation, or the awaited future's exception
            try:
                pending = coro.throw(exc)
            except StopIteration:
                return
            continue
        yield from coro  # resumes coro with send(None), as a task would
        return


class Runner:
    """Starts scheduled waiter calls in as few tasks as possible (the sessions' ``Scheduler``)."""

    __slots__ = ("_ready", "_task", "_tasks")

    def __init__(self, tasks: TaskSet) -> None:
        self._ready: deque[Runnable] = deque()
        self._task: asyncio.Task[None] | None = None
        self._tasks = tasks

    def schedule(self, session: Runnable) -> None:
        self._ready.append(session)
        if self._task is None:
            self._start()

    def _start(self) -> None:
        # A fresh context: the runner may be started from inside a handler (its gate opening
        # released a message), and a waiter call must not inherit that handler's scope.
        self._task = self._tasks.spawn(
            self._run(), context=contextvars.Context(), name="waiter-sdk-runner"
        )

    async def _run(self) -> None:
        me = asyncio.current_task()
        assert me is not None
        ready = self._ready
        try:
            while ready:
                session = ready.popleft()
                event = session._start(me)
                if event is None:  # ended before it started; its event was handed back
                    continue
                token = current_session.set(session)  # type: ignore[arg-type]
                try:
                    while event is not None:
                        # The waiter coroutine itself is stepped here: no wrapper coroutine
                        # per message, and no task unless it waits.
                        coro = session._begin(event)
                        try:
                            pending = coro.send(None)
                        except StopIteration:
                            event = session._call_done()
                            continue
                        except (Exception, asyncio.CancelledError) as exc:
                            session._call_failed(exc)
                            event = None
                            continue
                        except BaseException as exc:
                            session._call_failed(exc)
                            raise
                        break
                finally:
                    current_session.reset(token)
                if event is None:
                    continue
                # It waits: this task is now that call's. Hand the queue to a new runner.
                self._task = None
                if ready:
                    self._start()
                current_session.set(session)  # type: ignore[arg-type]
                await session._drive(_resume(coro, pending))
                return
        finally:
            if self._task is me:
                self._task = None
