"""``log``: the adapter's logger; every line carries ``adapter="satori"`` for sinks and filters.

Usage: ``from .log import log; log.warning("satori {}: ...", where)``. Messages never contain the
token or a whole payload: frames appear as short excerpts with the token masked.
"""

from loguru import logger

__all__ = ["excerpt", "log", "mask"]

log = logger.bind(adapter="satori")

_EXCERPT = 60


def mask(text: str, hidden: tuple[str, ...]) -> str:
    """``text`` with every ``hidden`` string replaced by ``***``."""
    for secret in hidden:
        if secret:
            text = text.replace(secret, "***")
    return text


def excerpt(text: str | bytes, hidden: tuple[str, ...] = ()) -> str:
    """A short single-line excerpt of ``text`` for logs, secrets masked before the cut."""
    size = f"{len(text)} bytes" if isinstance(text, bytes) else f"{len(text)} chars"
    whole = len(text) <= _EXCERPT
    if isinstance(text, bytes):
        # Bounded decode: a giant frame costs no more than its head.
        text = text[: _EXCERPT * 4 + 256].decode("utf-8", "replace")
        shown = mask(text, hidden)
    else:
        # Mask the whole text, then cut: a secret that straddles the cut is masked too.
        shown = mask(text if len(text) < 1_000_000 else text[: _EXCERPT * 4 + 256], hidden)
    return repr(shown[:_EXCERPT]) + ("" if whole else f"... ({size})")
