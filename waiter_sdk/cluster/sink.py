"""``IngressSink``: a worker's one adapter, which sends for every platform through the ingress.

Usage (the worker builds it; plugins send as always, ``event.send(...)``)::

    sink = IngressSink(client, "w1", send_timeout=10.0, settled=registry.settled)
    message_id = await sink.send(target, chain)     # XADD waiter:out, then await the result
    sink.resolve(envelope)                          # the worker's read loop: a ``result`` came

A worker holds no platform connection: ``send`` appends a ``send`` envelope to ``waiter:out``,
which the ingress carries out on the real adapter and answers with a ``result`` envelope on
this worker's stream (``waiter:in:<worker>``); the worker's read loop hands it to ``resolve``.

Before appending, ``send`` waits until the session claims queued so far are applied in Redis
(``settled``): a prompt goes out only once the session that waits for its answer can be found,
so a user who answers from another chat, or at once, reaches this worker.

No answer within ``send_timeout``: ``ActionTimeoutError`` (an ``AdapterError`` and a
``TimeoutError``) naming the ingress. An answer with an error raises the error type the ingress
named when it is one of ``waiter_sdk.exceptions``, else ``AdapterError``, with its message.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from loguru import logger
from redis.asyncio import Redis

from .. import exceptions
from ..adapters.base import Adapter
from ..events import MessageChain, Target
from ..exceptions import ActionTimeoutError, AdapterConnectionError, AdapterError, DeliveryError
from . import codec
from .batch import Batcher
from .delivery import Outbox
from .layout import OUT_STREAM

if TYPE_CHECKING:
    from ..app import App

__all__ = ["IngressSink"]


class IngressSink(Adapter):
    """Sends through the ingress for any platform (``App.adapter_for`` of a worker finds it)."""

    platform = "cluster"

    def __init__(
        self,
        client: Redis,
        worker_id: str,
        *,
        send_timeout: float,
        settled: Callable[[], Awaitable[None]],
        describe: str | None = None,
    ) -> None:
        self.worker_id = worker_id
        self.send_timeout = send_timeout
        self._settled = settled
        self._out = Outbox(client, describe=describe)
        self._sends = self._batcher()
        self._pending: dict[str, asyncio.Future[str]] = {}
        self._closed = False

    def _batcher(self) -> Batcher[bytes, str]:
        # Handlers that send at the same time share one XADD pipeline (cluster/batch.py).
        out = self._out
        return Batcher(lambda payloads: out.send_many([(OUT_STREAM, p) for p in payloads]), "sends")

    async def start(self, app: App) -> None:
        if self._closed:
            self._sends = self._batcher()
        self._closed = False

    async def stop(self) -> None:
        self._closed = True
        await self._sends.aclose()
        for rid, future in list(self._pending.items()):
            if not future.done():
                future.set_exception(
                    AdapterConnectionError(f"worker {self.worker_id} stopped before send {rid}")
                )

    def describe(self) -> str:
        return f"sends through the ingress ({OUT_STREAM}) as worker {self.worker_id}"

    @property
    def pending(self) -> int:
        """Sends waiting for their result."""
        return len(self._pending)

    async def send(
        self, target: Target, chain: MessageChain, *, reply_to: str | None = None
    ) -> str:
        if self._closed:
            raise AdapterConnectionError(
                f"worker {self.worker_id} has stopped; it sends nothing more"
            )
        await self._settled()
        rid = os.urandom(8).hex()
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            payload = codec.encode_send(rid, self.worker_id, target, chain, reply_to)
            try:
                await self._sends.submit(payload)
            except DeliveryError as exc:
                raise AdapterConnectionError(f"could not ask the ingress to send: {exc}") from exc
            try:
                async with asyncio.timeout(self.send_timeout):
                    return await future
            except TimeoutError:
                if future.done():
                    raise  # the result itself was a timeout error: as the ingress said
                raise ActionTimeoutError(
                    f"send to {_where(target)} through the ingress (is it running and reading "
                    f"{OUT_STREAM}? WAITER_CLUSTER__SEND_TIMEOUT sets the wait)",
                    self.send_timeout,
                ) from None
        finally:
            self._pending.pop(rid, None)

    def resolve(self, envelope: Mapping[str, Any]) -> None:
        """A ``result`` envelope arrived: finish the send it answers (ignored if unknown)."""
        rid, message_id, error, error_type = codec.result_of(envelope)
        future = self._pending.get(rid)
        if future is None or future.done():
            logger.debug("result of send {} came after its sender stopped waiting", rid)
            return
        if error is None:
            future.set_result(message_id or "")
        else:
            future.set_exception(_error(error, error_type))


def _where(target: Target) -> str:
    chat = f"group {target.group_id}" if target.group_id is not None else f"user {target.user_id}"
    return f"{target.platform} {chat}"


def _error(message: str, type_name: str | None) -> Exception:
    """The error the ingress reported, as its own type when the SDK defines it."""
    klass = getattr(exceptions, type_name or "", None)
    if not (
        type_name in exceptions.__all__
        and isinstance(klass, type)
        and issubclass(klass, exceptions.WaiterError)
    ):
        return AdapterError(f"{type_name or 'error'}: {message}")
    # Built without its own __init__ (some take structured arguments): the message is the
    # ingress's text, and the type is what callers catch.
    error: Exception = klass.__new__(klass)
    Exception.__init__(error, message)
    return error
