"""``Batcher``: the calls made while one round trip is under way go out together in the next.

Usage::

    sends = Batcher(lambda payloads: outbox.send_many([(OUT, p) for p in payloads]), "sends")
    entry_id = await sends.submit(payload)   # one caller's part of one pipelined round trip
    await sends.aclose()                      # at stop: what is still queued fails

Each Redis command made on its own costs the process a socket write, a read and redis-py's
parsing: most of a cluster message's CPU (bench/cluster.py). Under load many handlers send at
once, so the calls of one loop turn, and those made while a batch is in flight, share one
pipeline. With a single caller nothing waits: its batch starts at the next loop turn.

A failure of the batch fails every call in it with the same error (callers retry, or report,
as they would have for their own call). A caller that stops waiting does not take its item
back: like a command already written to the socket, it may still be carried out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from ..exceptions import DeliveryError

__all__ = ["Batcher"]

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """Runs ``run`` on the items submitted meanwhile; ``run`` returns one result per item."""

    __slots__ = ("_closed", "_name", "_queue", "_run", "_task")

    def __init__(self, run: Callable[[list[T]], Awaitable[Sequence[R]]], name: str) -> None:
        self._run = run
        self._name = name
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def submit(self, item: T) -> R:
        """``item``'s result, once the batch it joined has run; raises what the batch raised."""
        if self._closed:
            raise DeliveryError(f"{self._name}: closed, nothing more is sent")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, future))
        if self._task is None:
            self._task = loop.create_task(self._drain(), name=f"batch-{self._name}")
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    results = await self._run([item for item, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except BaseException:
                    self._fail(batch, "stopped while its batch was under way")
                    raise
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._task = None

    def _fail(self, batch: list[tuple[T, asyncio.Future[R]]], why: str) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(DeliveryError(f"{self._name}: {why}"))

    async def aclose(self) -> None:
        """Stop: the batch under way is cancelled, and every call still waiting fails."""
        self._closed = True
        task, self._task = self._task, None
        while task is not None and not task.done():
            # Again every second: on 3.11 a redis-py call can swallow a cancellation.
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        queued, self._queue = self._queue, []
        self._fail(queued, "stopped before it was sent")
