"""``body_limit``: one request size limit for every route of an adapter's HTTP server.

Usage::

    app = web.Application(client_max_size=limit, middlewares=[body_limit(limit, "sandbox")])

aiohttp enforces ``client_max_size`` only when a handler reads the body, so a route that never
reads it (a page, a WebSocket handshake) would accept any body. This middleware answers 413
before any handler runs: at once when ``Content-Length`` is over the limit, and after reading at
most the limit when the body comes chunked without one. Header and URL sizes are bounded by
aiohttp's parser itself (400).
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from loguru import logger

__all__ = ["body_limit"]


def body_limit(limit: int, adapter: str) -> Middleware:
    """A middleware that refuses request bodies over ``limit`` bytes with 413.

    ``adapter`` names the server in the log line (bound as ``adapter=`` like its other lines).
    """
    log = logger.bind(adapter=adapter)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        length = request.content_length
        too_big = length is not None and length > limit
        if not too_big and length is None and request.body_exists:
            try:
                # Chunked: read it here (kept for the handler), bounded by client_max_size.
                too_big = len(await request.read()) > limit
            except web.HTTPRequestEntityTooLarge:
                too_big = True
        if too_big:
            log.warning(
                "{} {} {} from {}: body over {} bytes refused",
                adapter,
                request.method,
                request.path[:100],
                request.remote or "?",
                limit,
            )
            return web.Response(status=413, text="413: body too large\n")
        return await handler(request)

    return middleware
