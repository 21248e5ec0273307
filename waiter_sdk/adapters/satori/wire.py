"""``loads`` / ``dumps``: JSON frames at orjson's speed with the standard library's results.

Usage: ``body = loads(frame)``; ``frame = dumps({"op": 1})``.

orjson refuses some of what ``json.loads`` accepts (lone surrogate escapes, ``NaN``, a BOM) and
writes some values the standard library refuses, and the reverse; each falls back to the other.
Errors are ``json.loads``'s: ``ValueError`` (``UnicodeDecodeError`` for invalid UTF-8) and
``RecursionError`` for nesting too deep.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dumps", "loads"]


def loads(data: str | bytes) -> Any:
    """Decode one JSON text as ``json.loads(data)`` would."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass  # the stdlib decides: it accepts more, and its error is the one callers know
    except UnicodeEncodeError:  # a str with a lone surrogate, which only the stdlib takes
        pass
    return json.loads(data)


def dumps(obj: Any) -> str:
    """``obj`` as compact JSON text, non-ASCII characters as they are."""
    try:
        return orjson.dumps(obj).decode()
    except TypeError:
        # A lone surrogate, an integer past 64 bits, nesting past orjson's limit.
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
