"""What adapters' event parsers share when reading untrusted fields.

Usage: ``EventError(f"{field} is a string, not {kind_of(value)}")``, and
``timestamp=unix_from_millis(body.get("timestamp"))`` for platforms that count milliseconds.
"""

from __future__ import annotations

import math
import time

__all__ = ["kind_of", "unix_from_millis"]


def kind_of(value: object) -> str:
    """How a log line or an error names the JSON type of ``value`` ("an object", "a boolean")."""
    return {dict: "an object", list: "an array", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def unix_from_millis(value: object) -> float:
    """A timestamp in milliseconds as Unix seconds; the wall clock when it is no usable date."""
    if not isinstance(value, bool) and isinstance(value, int | float):
        try:
            seconds = float(value) / 1000
        except OverflowError:  # an integer with 400 digits
            seconds = math.nan
        if math.isfinite(seconds) and seconds > 0:
            return seconds
    # A date, not a deadline: nothing waits on it, so virtual time in tests is not affected.
    return time.time()
