"""``Hub``: the open pages, and fanning frames out to them without awaiting any of them.

Usage::

    hub = Hub(tasks)
    client = hub.join(ws, peer="127.0.0.1", first=snapshot)   # starts its writer task
    hub.broadcast({"type": "log", ...})                       # synchronous, never blocks
    hub.leave(client)

Each page has a bounded queue and one writer task. App listeners are synchronous and run inside
``dispatch``, so they can only enqueue; a page that stops reading overflows its queue and is
disconnected (it reconnects and gets a fresh snapshot) instead of growing server memory.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, web
from loguru import logger

from ..._tasks import TaskSet

__all__ = ["CLIENT_QUEUE", "Client", "Hub"]

CLIENT_QUEUE = 2000  # frames waiting for one page before it counts as stuck
Frame = dict[str, Any]


def _dumps(frame: Frame) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


@dataclass(eq=False)
class Client:
    """One open page."""

    ws: web.WebSocketResponse
    peer: str
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE))
    writer: asyncio.Task[None] | None = None


class Hub:
    """Every open page of one sandbox."""

    def __init__(self, tasks: TaskSet) -> None:
        self._tasks = tasks
        self._clients: set[Client] = set()
        self._log = logger.bind(adapter="sandbox")

    def __len__(self) -> int:
        return len(self._clients)

    def join(self, ws: web.WebSocketResponse, peer: str, first: Frame) -> Client:
        client = Client(ws, peer)
        client.queue.put_nowait(_dumps(first))
        self._clients.add(client)
        client.writer = self._tasks.spawn(self._write(client), name="sandbox-writer")
        return client

    def leave(self, client: Client) -> None:
        self._clients.discard(client)
        if client.writer is not None:
            client.writer.cancel()

    async def close_all(self, grace: float = 1.0) -> None:
        """Flush and close every page; aiohttp waits for open WebSocket handlers to end."""
        clients = list(self._clients)
        writers = []
        for client in clients:
            try:
                client.queue.put_nowait(None)  # the writer closes after what is queued
            except asyncio.QueueFull:
                continue
            if client.writer is not None:
                writers.append(client.writer)
        if writers:
            await asyncio.wait(writers, timeout=grace)
        for client in clients:
            await client.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")
            self.leave(client)

    def broadcast(self, frame: Frame) -> None:
        if not self._clients:
            return
        text = _dumps(frame)
        for client in list(self._clients):
            try:
                client.queue.put_nowait(text)
            except asyncio.QueueFull:
                self._log.warning("sandbox page {} is not reading; disconnecting it", client.peer)
                self.leave(client)
                self._tasks.spawn(client.ws.close(code=WSCloseCode.TRY_AGAIN_LATER))

    def send(self, client: Client, frame: Frame) -> None:
        try:
            client.queue.put_nowait(_dumps(frame))
        except asyncio.QueueFull:
            # The next broadcast disconnects this stuck page; a lost error reply is harmless.
            self._log.debug("sandbox page {}: reply dropped, queue full", client.peer)

    async def _write(self, client: Client) -> None:
        try:
            while (text := await client.queue.get()) is not None:
                await client.ws.send_str(text)
        except (ConnectionError, RuntimeError) as exc:
            self._log.debug("sandbox page {} went away: {}", client.peer, exc)
            self._clients.discard(client)
            await client.ws.close()
