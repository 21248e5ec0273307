"""HTTP POST (webhook): implementations post each event to us.

Usage (the adapter mounts it)::

    HttpPost(adapter, settings).mount(server.app.router)

Checks, in order: body size (413), then the ``X-Signature`` HMAC-SHA1 over the raw body bytes
when a secret is set (401 missing, 403 wrong), else the access token when one is set. The spec
has implementations sign posts, not present a token, so go-cqhttp and NapCat post none: with
a token and no secret they are refused (401), and the log line names ``SECRET``. A body that
is not a JSON object is logged with a short excerpt and answered 400. Accepted events are
answered 204: replies go through the action channel, never as quick operations, because
several implementations (Lagrange) ignore the response body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .auth import check_signature, check_token, given_token
from .channel import excerpt
from .log import log
from .wire import loads

if TYPE_CHECKING:
    from .adapter import OneBot11Adapter
    from .settings import OneBot11Settings

__all__ = ["HttpPost"]


class HttpPost:
    """The HTTP POST endpoint."""

    def __init__(self, adapter: OneBot11Adapter, settings: OneBot11Settings) -> None:
        self._adapter = adapter
        self._settings = settings
        self.path = settings.http_post_path
        self._malformed = 0

    def mount(self, router: web.UrlDispatcher) -> None:
        router.add_post(self.path, self.handle)
        if self.path != "/":
            router.add_post(self.path + "/", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        settings = self._settings
        peer = request.remote or "?"
        limit = settings.max_body_size
        if request.content_length is not None and request.content_length > limit:
            log.warning("onebot11 HTTP POST from {}: body over {} bytes refused", peer, limit)
            return web.Response(status=413, text="413: body too large\n")
        secret = settings.secret.get_secret_value() if settings.secret else None
        token = settings.access_token.get_secret_value() if settings.access_token else None
        if secret is None and token is not None:
            # No signing key: the access token guards this route like every other one.
            status = check_token(token, given_token(request.headers, request.query))
            if status == 401:
                return self._refuse(peer, status, "access token", _UNSIGNED_HINT)
            if status is not None:
                return self._refuse(peer, status, "access token")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            log.warning("onebot11 HTTP POST from {}: body over {} bytes refused", peer, limit)
            return web.Response(status=413, text="413: body too large\n")
        if secret is not None:
            status = check_signature(secret, body, request.headers.get("X-Signature"))
            if status is not None:
                return self._refuse(peer, status, "signature")
        try:
            payload = loads(body)
        except (ValueError, RecursionError):  # invalid UTF-8 is a ValueError too
            payload = None
        if not isinstance(payload, dict) or "post_type" not in payload:
            self._malformed += 1
            # The first one is a warning; repeats go to debug so a broken peer cannot flood logs.
            emit = log.warning if self._malformed == 1 else log.debug
            emit(
                "onebot11 HTTP POST from {}: dropped a body that is not an event object: {}",
                peer,
                excerpt(body, self._adapter.hidden),
            )
            return web.Response(status=400, text="400: expected a OneBot event object\n")
        self._adapter.deliver_payload(payload, request.headers.get("X-Self-ID", "").strip())
        return web.Response(status=204)

    @staticmethod
    def _refuse(peer: str, status: int, what: str, hint: str = "") -> web.Response:
        why = f"no {what}" if status == 401 else f"a wrong {what}"
        log.warning("onebot11 HTTP POST from {}: refused, {}{}", peer, why, hint)
        return web.Response(status=status, text=f"{status}: {why}\n")


# Only for the missing token: a wrong one was sent on purpose, and the fix is to correct it.
_UNSIGNED_HINT = (
    "; with ACCESS_TOKEN set and no SECRET, posts must carry the token, and implementations "
    "that send none on posts (go-cqhttp, NapCat) must sign them instead: give them a post "
    "secret and set WAITER_ONEBOT11__SECRET to it (or put ?access_token= in the URL they post to)"
)
