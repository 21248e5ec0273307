"""``Server``: the aiohttp server that implementations connect to (reverse WS, HTTP POST).

Usage::

    server = Server(host, port)
    server.app.router.add_get(path, handler)
    await server.start()          # server.port is the bound port (useful with port 0)
    await server.stop()

Handlers must have ended before ``stop`` (the adapter closes its WebSockets first), so the
short shutdown timeout is only a bound, never a wait.
"""

from __future__ import annotations

from aiohttp import web

from ..limits import body_limit

__all__ = ["Server"]

_SHUTDOWN_TIMEOUT = 2.0


class Server:
    """One aiohttp application on ``host:port``."""

    def __init__(self, host: str, port: int, *, max_body_size: int) -> None:
        self.host = host
        self.port = port
        # Every route, the WebSocket handshakes included, refuses a body over the limit (413).
        self.app = web.Application(
            client_max_size=max_body_size, middlewares=[body_limit(max_body_size, "onebot11")]
        )
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Bind and serve; raise ``OSError`` when the address is taken."""
        runner = web.AppRunner(
            self.app, handle_signals=False, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        for address in runner.addresses:
            if isinstance(address, tuple):
                self.port = int(address[1])
                break

    async def stop(self) -> None:
        """Stop serving and release the port."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def url(self, scheme: str, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{path}"
