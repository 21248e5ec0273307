"""``Client``: the client-server API over aiohttp, with the token, rate limits and a clean stop.

Usage::

    client = Client(session, "https://matrix.example.org", token, settings)
    answer = await client.call("GET", "/_matrix/client/v3/account/whoami", action="whoami")
    client.close()          # every call in flight fails at once with AdapterConnectionError

The token goes in ``Authorization: Bearer``, never in a URL, and is masked out of every error
message. A ``429 M_LIMIT_EXCEEDED`` is waited out and sent again: the wait is the answer's
``retry_after_ms`` (else its ``Retry-After`` header, else a doubling delay), at most
``rate_limit_retries`` times and never longer than ``rate_limit_max_wait`` per wait; past that the
call fails with ``ActionFailedError`` (``retcode`` 429). ``transient=True`` also sends a call
again after a lost connection, a timeout or a 5xx answer: only for idempotent requests (a
message ``PUT`` under its transaction id is one; the server answers a repeat with the first
event id).

Errors: ``AdapterConnectionError`` (homeserver unreachable, connection lost, client closed),
``ActionTimeoutError`` (no answer in time), ``ActionFailedError`` (an error answer: ``retcode``
is the HTTP status, ``message`` the Matrix ``errcode: error``).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from ...exceptions import ActionFailedError, ActionTimeoutError, AdapterConnectionError
from .log import log, mask
from .settings import MatrixSettings

__all__ = ["Client", "backoff"]

_TRANSIENT_TRIES = 3  # a transient failure of an idempotent call: this many tries in all


def backoff(attempt: int, first: float, cap: float) -> float:
    """Delay before retry ``attempt`` (1, 2, ...): doubling from ``first``, capped, jittered.

    Half the delay is fixed and half random, so bots restarted together do not hammer a
    homeserver that comes back in lockstep, and none retries in a tight loop.
    """
    delay = min(cap, first * 2.0 ** min(attempt - 1, 30))
    return delay / 2 + random.uniform(0, delay / 2)


class Client:
    """Requests to one homeserver as one account; see the module docstring."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base: str,
        token: str,
        settings: MatrixSettings,
    ) -> None:
        self._session = session
        self._base = base.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._hidden = (token,)
        self._settings = settings
        self._inflight: set[asyncio.Task[Any]] = set()
        self.closed = False

    def close(self) -> None:
        """Refuse new calls and fail the ones in flight (their callers get
        ``AdapterConnectionError`` at once, not when a long poll or a 429 wait ends)."""
        self.closed = True
        for task in list(self._inflight):
            task.cancel()

    async def call(
        self,
        method: str,
        path: str,
        *,
        action: str,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        data: bytes | None = None,
        content_type: str | None = None,
        timeout: float | None = None,
        transient: bool = False,
    ) -> dict[str, Any]:
        """Send one request (retried as the module docstring says); its JSON object answer."""
        if self.closed:
            raise AdapterConnectionError(f"matrix {action}: the adapter is stopped")
        # The request runs in a task of its own so that close() can end it without cancelling
        # the caller, who then gets an AdapterConnectionError instead of a CancelledError.
        task = asyncio.ensure_future(
            self._tries(method, path, action, body, params, data, content_type, timeout, transient)
        )
        self._inflight.add(task)
        try:
            return await task
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if self.closed and task.cancelled() and (me is None or not me.cancelling()):
                raise AdapterConnectionError(
                    f"matrix {action}: the adapter stopped while the call was pending"
                ) from None
            raise
        finally:
            self._inflight.discard(task)
            if not task.done():
                task.cancel()

    async def _tries(
        self,
        method: str,
        path: str,
        action: str,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
        data: bytes | None,
        content_type: str | None,
        timeout: float | None,
        transient: bool,
    ) -> dict[str, Any]:
        settings = self._settings
        limited = 0
        failed = 0
        while True:
            try:
                status, headers, answer = await self._once(
                    method, path, action, body, params, data, content_type, timeout
                )
            except (AdapterConnectionError, ActionTimeoutError) as exc:
                failed += 1
                if not transient or failed >= _TRANSIENT_TRIES:
                    raise
                delay = backoff(failed, settings.reconnect_interval, settings.reconnect_max)
                log.info("matrix {}: {}; trying again in {:.2f} s", action, exc, delay)
                await asyncio.sleep(delay)
                continue
            if 200 <= status < 300:
                if not isinstance(answer, dict):
                    raise ActionFailedError(action, status, "the answer is not a JSON object")
                return answer
            errcode, error = _error_of(answer)
            if status == 429 or errcode == "M_LIMIT_EXCEEDED":
                limited += 1
                wait = _retry_after(answer, headers)
                if wait is None:
                    wait = backoff(limited, settings.reconnect_interval, settings.reconnect_max)
                if limited > settings.rate_limit_retries or wait > settings.rate_limit_max_wait:
                    raise ActionFailedError(
                        action,
                        status,
                        f"{errcode or 'M_LIMIT_EXCEEDED'}: rate limited "
                        f"(asked to wait {wait:.2f} s, {limited - 1} retries made)",
                    )
                log.info(
                    "matrix {}: rate limited by the homeserver; retrying in {:.2f} s", action, wait
                )
                await asyncio.sleep(wait)
                continue
            if transient and status >= 500 and failed + 1 < _TRANSIENT_TRIES:
                failed += 1
                delay = backoff(failed, settings.reconnect_interval, settings.reconnect_max)
                log.info("matrix {}: HTTP {}; trying again in {:.2f} s", action, status, delay)
                await asyncio.sleep(delay)
                continue
            raise ActionFailedError(
                action, status, mask(f"{errcode or 'HTTP ' + str(status)}: {error}", self._hidden)
            )

    async def _once(
        self,
        method: str,
        path: str,
        action: str,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
        data: bytes | None,
        content_type: str | None,
        timeout: float | None,
    ) -> tuple[int, Mapping[str, str], Any]:
        limit = timeout if timeout is not None else self._settings.request_timeout
        headers = dict(self._headers)
        payload = data
        if body is not None:
            payload = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
        elif content_type is not None:
            headers["Content-Type"] = content_type
        try:
            async with asyncio.timeout(limit):
                async with self._session.request(
                    method, self._base + path, params=params, data=payload, headers=headers
                ) as response:
                    raw = await self._read(response, action)
                    status, answer_headers = response.status, response.headers
        except TimeoutError:
            raise ActionTimeoutError(f"matrix {action}", limit) from None
        except (aiohttp.ClientError, OSError) as exc:
            why = mask(str(exc) or type(exc).__name__, self._hidden)
            raise AdapterConnectionError(
                f"matrix {action}: cannot reach the homeserver ({why})"
            ) from None
        return status, answer_headers, _decode(raw)

    async def _read(self, response: aiohttp.ClientResponse, action: str) -> bytes:
        """The body, refused past ``max_response_size`` without reading it all."""
        limit = self._settings.max_response_size
        if response.content_length is not None and response.content_length > limit:
            raise ActionFailedError(action, response.status, f"answer over {limit} bytes refused")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise ActionFailedError(
                    action, response.status, f"answer over {limit} bytes refused"
                )
            chunks.append(chunk)
        return b"".join(chunks)


def _decode(raw: bytes) -> Any:
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            # The stdlib takes what orjson refuses (lone surrogate escapes, NaN).
            return json.loads(raw)
        except (ValueError, RecursionError):
            return None


def _error_of(answer: object) -> tuple[str, str]:
    if isinstance(answer, dict):
        errcode, error = answer.get("errcode"), answer.get("error")
        return (
            errcode if isinstance(errcode, str) else "",
            error[:200] if isinstance(error, str) else "no message",
        )
    return "", "the answer is not JSON"


def _retry_after(answer: object, headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks to wait: ``retry_after_ms``, else ``Retry-After`` (seconds)."""
    if isinstance(answer, dict):
        ms = answer.get("retry_after_ms")
        if not isinstance(ms, bool) and isinstance(ms, int | float) and math.isfinite(ms):
            return max(0.0, float(ms) / 1000)
    header = headers.get("Retry-After", "")
    try:
        seconds = float(header)
    except ValueError:
        return None  # absent, or an HTTP date, which homeservers do not send
    return max(0.0, seconds) if math.isfinite(seconds) else None
