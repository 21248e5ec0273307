"""Access tokens and HTTP POST signatures, checked in one place for every route.

Usage::

    status = check_token(expected, given_token(request.headers, request.query))  # None, 401, 403
    status = check_signature(secret, raw_body, request.headers.get("X-Signature"))

Tokens come as ``Authorization: Bearer <t>`` (spec, NapCat, Lagrange), ``Authorization: Token <t>``
(go-cqhttp) or ``?access_token=<t>``. ``Bearer `` with nothing after it (NapCat and Lagrange send
that when their token is empty) counts as no token. Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

__all__ = ["auth_headers", "check_signature", "check_token", "given_token", "sign"]

_SCHEMES = ("bearer", "token")


def given_token(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The token a peer presented, or ``None``; an unknown scheme yields ``""`` (present, wrong)."""
    header = headers.get("Authorization", "").strip()
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() in _SCHEMES:
            token = token.strip()
            if token:
                return token
        else:
            return ""
    token = query.get("access_token", "").strip()
    return token or None


def check_token(expected: str | None, given: str | None) -> int | None:
    """``None`` when accepted, else the HTTP status to answer: 401 missing, 403 wrong."""
    if expected is None:
        return None
    if given is None:
        return 401
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return 403
    return None


def sign(secret: str, body: bytes) -> str:
    """The ``X-Signature`` value for ``body``: ``sha1=`` and the HMAC-SHA1 hex digest."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def check_signature(secret: str | None, body: bytes, header: str | None) -> int | None:
    """``None`` when ``header`` signs the raw ``body`` bytes, else 401 (missing) or 403 (wrong).

    Over the bytes received, never re-serialised JSON; hex compared case-insensitively because
    some Lagrange builds sent upper-case digests.
    """
    if secret is None:
        return None
    if not header or not header.strip():
        return 401
    expected = sign(secret, body)
    if not hmac.compare_digest(header.strip().lower().encode(), expected.encode()):
        return 403
    return None


def auth_headers(token: str | None) -> dict[str, str]:
    """Headers that present ``token`` to an implementation (always the spec's ``Bearer``)."""
    return {"Authorization": f"Bearer {token}"} if token else {}
