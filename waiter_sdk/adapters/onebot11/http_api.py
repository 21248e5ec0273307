"""``HttpApi``: actions over the implementation's HTTP API (``POST <base>/<action>``).

Usage::

    api = HttpApi(session, ["http://127.0.0.1:3000"], token="s3cret", timeout=30)
    await api.bind(5)                                  # learn which account each URL serves
    data = await api.call("10001", "get_login_info", {})

Each URL serves one account; ``bind`` asks each ``get_login_info`` so several accounts work at
once. A URL that does not answer yet (the bot usually starts before the implementation) is asked
again by ``keep_binding``: after a doubling delay, or at once when ``nudge`` says the
implementation shows signs of life (an event arrived, a call through the URL succeeded).
``on_bound`` hears of every account learned, so the adapter can wake ``wait_bot``. HTTP
401/403/404 map to the retcodes the WebSocket transports use for them (1401, 1403, 1404).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import aiohttp
from yarl import URL

from ...exceptions import ActionFailedError, ActionTimeoutError, AdapterConnectionError
from ..redaction import mask
from .api import action_result
from .auth import auth_headers
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
        on_bound: Callable[[str], None] | None = None,
    ) -> None:
        self._session = session
        self.urls = [url.rstrip("/") for url in urls]
        self._headers = auth_headers(token)
        self._hidden = hidden
        self._timeout = timeout
        self._on_bound = on_bound
        self.accounts: dict[str, str] = {}  # self_id -> base URL
        # base URL -> the account it answered for; a URL is bound once it is here, even when
        # another URL already serves that account (it must not be asked again and again).
        self._serves: dict[str, str] = {}
        self._warned: set[str] = set()
        self._nudged = asyncio.Event()

    @property
    def unbound(self) -> list[str]:
        """The URLs that have not said yet which account they serve."""
        return [url for url in self.urls if url not in self._serves]

    async def bind(self, limit: float) -> list[str]:
        """Ask every unbound URL who it serves; return the accounts learned."""
        learned: list[str] = []
        for url in self.unbound:
            try:
                data = await self._post(url, "get_login_info", {}, limit)
            except (ActionFailedError, AdapterConnectionError, ActionTimeoutError) as exc:
                # keep_binding asks again and again while the implementation is down: one
                # warning per URL, the retries at debug level.
                emit = log.debug if url in self._warned else log.warning
                self._warned.add(url)
                emit("onebot11 HTTP API {}: not bound yet ({})", redact_url(url), exc)
                continue
            user_id = data.get("user_id") if isinstance(data, dict) else None
            if isinstance(user_id, bool) or not isinstance(user_id, int | str) or user_id == "":
                if url not in self._warned:
                    log.warning(
                        "onebot11 HTTP API {}: get_login_info named no user_id", redact_url(url)
                    )
                self._warned.add(url)
                continue
            if url in self._serves:  # a concurrent bind got there first
                continue
            self_id = str(user_id)
            self._serves[url] = self_id
            self._warned.discard(url)
            log.info("onebot11 HTTP API {}: serves account {}", redact_url(url), self_id)
            if self_id not in self.accounts:
                self.accounts[self_id] = url
                learned.append(self_id)
                if self._on_bound is not None:
                    self._on_bound(self_id)
        return learned

    async def keep_binding(self, delay: Callable[[int], float], limit: float) -> None:
        """Ask the unbound URLs again until every one is bound (run it as a task).

        Attempt ``n`` waits ``delay(n)`` seconds first, or less when ``nudge`` is called.
        """
        attempt = 0
        while self.unbound:
            attempt += 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay(attempt)):
                    await self._nudged.wait()
            # Cleared after waking, not before waiting: a nudge that comes while a bind is
            # under way still brings the next attempt forward.
            self._nudged.clear()
            await self.bind(limit)

    def nudge(self) -> None:
        """The implementation shows signs of life: let ``keep_binding`` try now."""
        self._nudged.set()

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
        if self.unbound:
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
        data = await self._post(url, action, params, limit or self._timeout)
        if url not in self._serves:
            # It answers now, but which account does it serve? keep_binding asks it.
            self.nudge()
        return data

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
