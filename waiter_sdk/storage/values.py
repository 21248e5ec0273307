"""What JSON can hold: the one check every value passes before a backend writes it."""

from __future__ import annotations

import math
from typing import Any

import orjson

__all__ = ["unstorable"]


def unstorable(value: Any) -> str | None:
    """Why ``value`` cannot be stored as JSON, or None if it can."""
    try:
        encoded = orjson.dumps(value)
    except TypeError as exc:
        return str(exc)
    # orjson writes NaN and infinities as null: the value would come back changed. Only a
    # dump that holds a null can hide one, so the walk is skipped for nearly every value.
    if b"null" in encoded and not _finite(value):
        return "NaN and infinity are not JSON"
    return None


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_finite(v) for v in value)
    return True
