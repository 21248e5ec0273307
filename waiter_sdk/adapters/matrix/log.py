"""``log``: the adapter's logger (every line carries ``adapter="matrix"``), and bounded excerpts.

Usage: ``log.warning("matrix: dropped an event ({}): {}", why, excerpt(event, hidden))``.
Messages never contain the access token: payloads appear as short excerpts with secrets masked.
"""

from __future__ import annotations

from loguru import logger

# Payloads reach the log decoded (JSON objects), so their excerpt is the bounded repr.
from ..redaction import mask
from ..redaction import payload_excerpt as excerpt

__all__ = ["excerpt", "log", "mask"]

log = logger.bind(adapter="matrix")
