"""``log``: the adapter's logger; every line carries ``adapter="onebot11"`` for sinks and filters.

Usage: ``from .log import log; log.warning("onebot11 {}: ...", label)``. Messages never contain a
token or a whole payload: frames appear as short excerpts with secrets masked.
"""

from loguru import logger

__all__ = ["log"]

log = logger.bind(adapter="onebot11")
