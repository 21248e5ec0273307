"""``HttpApi``: actions over the implementation's HTTP API (``POST <base>/<action>``).

Usage::

    api = HttpApi(session, ["http://127.0.0.1:3000"], token="s3cret", timeout=30)
    await api.bind(5)                                  # learn which account each URL serves
    data = await api.call("10001", "get_login_info", {})

Each URL serves one account; ``bind`` asks each ``get_login_info`` so several accounts work at
once. A URL that does not answer yet is bound later, on first use. HTTP 401/403/404 map to the
retcodes the WebSocket transports use for them (1401, 1403, 1404).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from yarl import URL

from ...exceptions import ActionFailedError, ActionTimeoutError, AdapterConnectionError
from .api import action_result
from .auth import auth_headers, mask
from .log import log
from .wire import loads

__all__ = ["HttpApi", "redact_url"]


def redact_url(url: str) -> str:
    """``url`` without the value of an ``access_token`` query parameter, for logs."""
    try:
        parsed = URL(url)
    except (TypeError, ValueError):
        return url
    if "access_token" not in parsed.query:
        return url
    return str(parsed.update_query(access_token="***"))


class HttpApi:
    """The HTTP API URLs of one or more implementations, by the account each serves."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        urls: list[str],
        *,
        token: str | None,
        timeout: float,
        hidden: tuple[str, ...] = (),
    ) -> None:
        self._session = session
        self.urls = [url.rstrip("/") for url in urls]
        self._headers = auth_headers(token)
        self._hidden = hidden
        self._timeout = timeout
        self.accounts: dict[str, str] = {}  # self_id -> base URL

    async def bind(self, limit: float) -> list[str]:
        """Ask every unbound URL who it serves; return the accounts learned."""
        learned: list[str] = []
        for url in self.urls:
            if url in self.accounts.values():
                continue
            try:
                data = await self._post(url, "get_login_info", {}, limit)
            except (ActionFailedError, AdapterConnectionError, ActionTimeoutError) as exc:
                log.warning("onebot11 HTTP API {}: not bound yet ({})", redact_url(url), exc)
                continue
            if isinstance(data, dict) and data.get("user_id") is not None:
                self_id = str(data["user_id"])
                self.accounts[self_id] = url
                learned.append(self_id)
        return learned

    async def url_for(self, self_id: str | None) -> str:
        """The base URL that serves ``self_id`` (with one URL and no ``self_id``: that one)."""
        if self_id is not None and self_id in self.accounts:
            return self.accounts[self_id]
        if len(self.urls) == 1 and (self_id is None or not self.accounts):
            return self.urls[0]  # unbound yet: the implementation will say if it is not that one
        if self_id is None:
            raise AdapterConnectionError(
                "several HTTP API URLs are configured; pass self_id to say which account"
            )
        if len(self.accounts) < len(self.urls):
            await self.bind(self._timeout)
            if self_id in self.accounts:
                return self.accounts[self_id]
        raise AdapterConnectionError(
            f"no HTTP API URL serves OneBot account {self_id}; check WAITER_ONEBOT11__API_URLS"
        )

    async def call(
        self, self_id: str | None, action: str, params: dict[str, Any], limit: float | None = None
    ) -> Any:
        """Call ``action`` for ``self_id`` within ``limit`` seconds; return the ``data``."""
        url = await self.url_for(self_id)
        return await self._post(url, action, params, limit or self._timeout)

    async def _post(self, base: str, action: str, params: dict[str, Any], limit: float) -> Any:
        try:
            async with asyncio.timeout(limit):
                async with self._session.post(
                    f"{base}/{action}", json=params, headers=self._headers
                ) as response:
                    status = response.status
                    body = await response.read()
        except TimeoutError:
            raise ActionTimeoutError(action, limit) from None
        except (aiohttp.ClientError, OSError) as exc:
            why = mask(str(exc), self._hidden)  # aiohttp may quote a URL with ?access_token=
            raise AdapterConnectionError(
                f"HTTP API {redact_url(base)} unreachable for action {action!r}: {why}"
            ) from None
        if status in (401, 403):
            word = "missing" if status == 401 else "rejected"
            raise ActionFailedError(action, 1000 + status, f"HTTP {status}: access token {word}")
        if status == 404:
            raise ActionFailedError(action, 1404, "HTTP 404: unknown action")
        if not 200 <= status < 300:
            raise ActionFailedError(action, 1000 + status, f"HTTP {status}")
        try:
            payload = loads(body)
        except (ValueError, RecursionError):
            raise ActionFailedError(
                action, None, "the HTTP API answered with invalid JSON"
            ) from None
        if not isinstance(payload, dict):
            raise ActionFailedError(action, None, "the HTTP API answered with no JSON object")
        return action_result(action, payload)
