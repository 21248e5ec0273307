"""``TaskSet``: tasks that must not outlive their owner.

Usage: ``tasks.spawn(coro)`` instead of ``asyncio.create_task(coro)``; ``await tasks.aclose()``
cancels what is still running and waits for it. No task of the SDK is fire-and-forget.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any

__all__ = ["TaskSet"]


class TaskSet:
    """Tasks that must not outlive their owner: tracked, cancelled and awaited on close."""

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(
        self,
        coro: Coroutine[Any, Any, Any],
        *,
        context: contextvars.Context | None = None,
        name: str = "",
    ) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name or None, context=context)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    async def aclose(self) -> None:
        """Cancel every task still running and wait for all of them to finish.

        The calling task is left alone: a task that closes its own owner (a reader that asks
        the app to stop at end of input) must not wait on itself.
        """
        me = asyncio.current_task()
        while True:
            tasks = [t for t in self._tasks if t is not me]
            if not tasks:
                return
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
