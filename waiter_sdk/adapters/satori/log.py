"""``log``: the adapter's logger; every line carries ``adapter="satori"`` for sinks and filters.

Usage: ``from .log import log; log.warning("satori {}: ...", where)``. Messages never contain the
token or a whole payload: frames appear as short excerpts with the token masked.
"""

from loguru import logger

from ..redaction import excerpt, mask

__all__ = ["excerpt", "log", "mask"]

log = logger.bind(adapter="satori")
