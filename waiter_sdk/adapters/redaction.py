"""Secrets kept out of adapters' log lines and errors, and payloads shown in bounded excerpts.

Usage::

    mask("token=s3cret", ("s3cret",))              # "token=***"
    excerpt(frame_bytes, hidden)                     # "'{\"post_type\": ...'... (5000 bytes)"
    payload_excerpt(decoded, hidden)                 # bounded however deep or big

Every adapter logs what it could not use, and the same two rules hold for all: a secret is
masked before anything is cut (a secret straddling the cut must not leave its head behind),
and showing a hostile payload costs bounded work.
"""

from __future__ import annotations

import reprlib

__all__ = ["excerpt", "mask", "payload_excerpt"]

_EXCERPT = 60  # characters of a frame shown in a log line


def mask(text: str, hidden: tuple[str, ...]) -> str:
    """``text`` with every secret in ``hidden`` replaced by ``***``, for logs and errors."""
    for secret in hidden:
        if secret:
            text = text.replace(secret, "***")
    return text


def excerpt(text: str | bytes, hidden: tuple[str, ...] = ()) -> str:
    """A short, single-line excerpt of a frame for logs, with ``hidden`` strings masked."""
    size = f"{len(text)} bytes" if isinstance(text, bytes) else f"{len(text)} chars"
    whole = len(text) <= _EXCERPT
    # Mask the whole text, then cut: masking only the head would leave the first characters
    # of a secret that straddles the cut (or that masking shifted into the head).
    if isinstance(text, bytes):
        for secret in hidden:
            if secret:
                text = text.replace(secret.encode(), b"***")
        text = text[: _EXCERPT * 4].decode("utf-8", "replace")
    else:
        text = mask(text, hidden)
    return repr(text[:_EXCERPT]) + ("" if whole else f"... ({size})")


class _Masked(reprlib.Repr):
    """``reprlib`` bounds depth and width; secrets go before strings are shortened."""

    def __init__(self, hidden: tuple[str, ...]) -> None:
        super().__init__()
        self.maxlevel = 4
        self.hidden = hidden

    def repr_str(self, x: str, level: int) -> str:
        shown = mask(x, self.hidden)
        if len(shown) <= self.maxstring:
            return repr(shown)
        return repr(shown[: self.maxstring]) + "..."


def payload_excerpt(payload: object, hidden: tuple[str, ...] = ()) -> str:
    """``excerpt`` of a decoded payload: bounded work and no recursion, however deep or big."""
    return excerpt(_Masked(hidden).repr(payload), hidden)
