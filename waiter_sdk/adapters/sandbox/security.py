"""Who may open the sandbox: the loopback rule, the token, and same-origin WebSockets.

Usage::

    check_bind(settings)                   # ConfigError if a public bind has no token
    problem = check_request(host_header, origin, given_token, settings, websocket=True)

The sandbox drives a bot as any user, so a page on another site must not be able to use it:
without a token it answers only requests addressed to a loopback name (which defeats DNS
rebinding), and a WebSocket must come from the sandbox's own origin in every case.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from ...exceptions import ConfigError
from .settings import SandboxSettings

__all__ = ["Denied", "check_bind", "check_request", "is_loopback", "token_of"]

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


@dataclass(frozen=True, slots=True)
class Denied:
    """Why a request was refused: ``status`` 401 (no token) or 403 (anything else)."""

    status: int
    reason: str


def token_of(settings: SandboxSettings) -> str | None:
    """The configured token; an empty string counts as none, so it can never match."""
    token = settings.token.get_secret_value() if settings.token is not None else ""
    return token or None


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(settings: SandboxSettings) -> None:
    """Refuse to serve the sandbox beyond this machine without a token."""
    if not is_loopback(settings.host) and token_of(settings) is None:
        shown = settings.host or "every interface"
        raise ConfigError(
            f"setting 'sandbox.host' is {shown!r}, which is not a loopback address: set "
            "'sandbox.token' (WAITER_SANDBOX__TOKEN) to a long random secret, or bind 127.0.0.1"
        )


def _hostname(host_header: str) -> str:
    # "127.0.0.1:8080", "[::1]:8080", "localhost" -> the name without port or brackets.
    return urlsplit("//" + host_header).hostname or ""


def check_request(
    host_header: str | None,
    origin: str | None,
    given_token: str | None,
    settings: SandboxSettings,
    *,
    websocket: bool,
) -> Denied | None:
    """``None`` if the request may proceed, else why not."""
    token = token_of(settings)
    if token is None:
        name = _hostname(host_header or "")
        if not (is_loopback(name) or name == settings.host.strip("[]").lower()):
            return Denied(403, "this sandbox answers only requests addressed to its loopback host")
    else:
        if not given_token:
            return Denied(
                401, "this sandbox needs its token: open the page as /?token=<sandbox.token>"
            )
        if not hmac.compare_digest(given_token.encode(), token.encode()):
            return Denied(403, "wrong sandbox token")
    if websocket and origin is not None:
        # Browsers always send Origin on WebSocket upgrades; a foreign one is another site
        # trying to drive the bot through the user's browser.
        parts = urlsplit(origin)
        if (
            parts.scheme not in ("http", "https")
            or parts.netloc.lower() != (host_header or "").lower()
        ):
            return Denied(403, "WebSocket origin does not match this sandbox")
    return None
