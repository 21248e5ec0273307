"""``SatoriApi``: the HTTP API, ``POST {url}/v1/{resource}.{method}``, with the errors mapped.

Usage::

    api = SatoriApi(session, settings)
    data = await api.call("message.create", {"channel_id": "42", "content": "hi"},
                          platform="discord", user_id="1234")

Every call carries ``Content-Type: application/json``, ``Satori-Platform`` and ``Satori-User-ID``
(the login it acts as; also as ``X-Platform`` / ``X-Self-ID`` for servers older than protocol
1.1) and, with a token, ``Authorization: Bearer``. Answers map onto the SDK's
errors, in messages that never hold the token:

* 2xx: the decoded JSON (``None`` for an empty body).
* 4xx and 5xx: ``ActionFailedError`` with the status as ``retcode`` and what it means (401/403:
  the token; 404: the platform has no such API) plus a short excerpt of the server's answer.
* No answer within ``request_timeout``: ``ActionTimeoutError``.
* The server cannot be reached, or ``close()`` ran while the call was pending (the adapter
  stopped): ``AdapterConnectionError``, at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from ...exceptions import ActionFailedError, ActionTimeoutError, AdapterConnectionError
from .log import excerpt, mask
from .settings import SatoriSettings
from .wire import dumps, loads

__all__ = ["SatoriApi"]

_MEANING = {
    400: "the server found the request malformed",
    401: "the server wants a token; set WAITER_SATORI__TOKEN",
    403: "the server refused the token or the login may not do this; check WAITER_SATORI__TOKEN",
    404: "this platform has no such API",
    405: "method not allowed",
    413: "the request is too large for the server",
    501: "the platform has this API but its adapter does not implement it",
}


class SatoriApi:
    """Calls to one Satori server's HTTP API; ``close()`` fails every pending call at once."""

    def __init__(self, session: aiohttp.ClientSession, settings: SatoriSettings) -> None:
        self._session = session
        self._settings = settings
        self._base = settings.url + "/v1/"
        self._token = settings.token.get_secret_value() if settings.token else None
        self._hidden = (self._token,) if self._token else ()
        self._inflight: set[asyncio.Task[Any]] = set()
        self._closed = False

    @property
    def pending(self) -> int:
        """Calls waiting for their answer."""
        return len(self._inflight)

    async def call(
        self,
        method: str,
        params: dict[str, Any],
        *,
        platform: str,
        user_id: str,
        timeout: float | None = None,
    ) -> Any:
        """Call ``method`` (``resource.method``) as the login ``platform`` / ``user_id``."""
        if self._closed:
            raise AdapterConnectionError(
                f"the Satori adapter is stopped; API call {method!r} was not sent"
            )
        limit = timeout if timeout is not None else self._settings.request_timeout
        # Encode first: a value JSON cannot hold raises TypeError here, before any request.
        body = dumps(params).encode("utf-8", "surrogatepass")
        request = asyncio.get_running_loop().create_task(
            self._request(method, body, platform, user_id, limit)
        )
        self._inflight.add(request)
        try:
            return await request
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._closed and (task is None or not task.cancelling()):
                # close() cancelled the request, not our caller: the caller gets told why.
                raise AdapterConnectionError(
                    f"the Satori adapter stopped before API call {method!r} was answered"
                ) from None
            raise
        finally:
            self._inflight.discard(request)
            request.cancel()

    async def _request(
        self, method: str, body: bytes, platform: str, user_id: str, limit: float
    ) -> Any:
        headers = {
            "Content-Type": "application/json",
            "Satori-Platform": platform,
            "Satori-User-ID": user_id,
            # The same for servers older than protocol 1.1 (Koishi's first Satori server).
            "X-Platform": platform,
            "X-Self-ID": user_id,
        }
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            async with asyncio.timeout(limit):
                async with self._session.post(self._base + method, data=body, headers=headers) as r:
                    status = r.status
                    answer = await r.read()
        except TimeoutError:
            raise ActionTimeoutError(method, limit) from None
        except (aiohttp.ClientError, OSError) as exc:
            why = mask(str(exc), self._hidden)[:200]
            raise AdapterConnectionError(
                f"cannot reach the Satori server at {self._settings.url} for {method!r} ({why}); "
                "is it running, and is WAITER_SATORI__URL right?"
            ) from None
        if 200 <= status < 300:
            if not answer.strip():
                return None
            try:
                return loads(answer)
            except (ValueError, RecursionError):
                raise ActionFailedError(
                    method, status, f"the answer is not JSON: {excerpt(answer, self._hidden)}"
                ) from None
        meaning = _MEANING.get(status, "server error" if status >= 500 else "request refused")
        detail = excerpt(answer, self._hidden) if answer.strip() else "no body"
        raise ActionFailedError(method, status, f"HTTP {status}: {meaning} ({detail})")

    async def close(self) -> None:
        """Fail every pending call with ``AdapterConnectionError``; refuse new ones."""
        self._closed = True
        pending = list(self._inflight)
        for request in pending:
            request.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
