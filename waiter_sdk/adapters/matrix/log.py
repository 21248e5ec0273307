"""``log``: the adapter's logger (every line carries ``adapter="matrix"``), and bounded excerpts.

Usage: ``log.warning("matrix: dropped an event ({}): {}", why, excerpt(event, hidden))``.
Messages never contain the access token: payloads appear as short excerpts with secrets masked.
"""

from __future__ import annotations

import reprlib

from loguru import logger

__all__ = ["excerpt", "log", "mask"]

log = logger.bind(adapter="matrix")

_WIDTH = 120


def mask(text: str, hidden: tuple[str, ...]) -> str:
    """``text`` with every secret in ``hidden`` replaced by ``***``."""
    for secret in hidden:
        if secret:
            text = text.replace(secret, "***")
    return text


class _Bounded(reprlib.Repr):
    # reprlib bounds depth and width, so a hostile payload (deep, huge) costs little to show.
    def __init__(self, hidden: tuple[str, ...]) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxstring = 40
        self.hidden = hidden

    def repr_str(self, x: str, level: int) -> str:
        shown = mask(x, self.hidden)  # before shortening, so no head of a secret survives
        if len(shown) <= self.maxstring:
            return repr(shown)
        return repr(shown[: self.maxstring]) + "..."


def excerpt(value: object, hidden: tuple[str, ...] = ()) -> str:
    """A one-line, bounded view of a decoded payload for a log line, secrets masked."""
    text = mask(_Bounded(hidden).repr(value), hidden)
    return text if len(text) <= _WIDTH else text[:_WIDTH] + "..."
