"""``wire``: JSON frames in and out, at orjson's speed and with the standard library's results.

Usage::

    payload = loads(frame)      # str or bytes, decoded as json.loads decodes it
    frame = dumps({"action": "send_msg", "params": params, "echo": echo})

orjson decodes a frame several times faster than ``json.loads``, but it refuses what the standard
library accepts (lone surrogate escapes, which Node.js implementations send when they cut an emoji
in half; ``NaN``; numbers past the float range; a BOM; UTF-16 bytes) and it quietly turns
integers past 64 bits into floats. Those frames are decoded by ``json.loads``, so every frame
decodes to what it did before orjson, and fails the same way: ``ValueError`` for malformed JSON
or invalid UTF-8, ``RecursionError`` for nesting too deep. The one difference is that depth:
orjson takes 1,024 levels, where the stdlib stops at the interpreter's recursion limit (1,000,
less the caller's own frames).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dumps", "loads"]

# orjson raises nothing when it turns an integer into a float, so the text is checked first. Such
# an integer (below -2**63 or above 2**64 - 1) has at least 19 digits; with every digit made a
# "9", a run of 19 "9"s anywhere (a string included) sends the frame to the standard library.
_DIGITS_AS_NINES = bytes.maketrans(b"012345678", b"999999999")
_LONG_NUMBER = b"9" * 19


def loads(data: str | bytes) -> Any:
    """Decode one JSON text as ``json.loads(data)`` would.

    Raises ``ValueError`` (``UnicodeDecodeError`` for invalid UTF-8 bytes) or ``RecursionError``,
    as ``json.loads`` does.
    """
    try:
        raw = data.encode() if isinstance(data, str) else data
    except UnicodeEncodeError:  # a lone surrogate character, which only the stdlib takes
        return json.loads(data)
    if raw.translate(_DIGITS_AS_NINES).find(_LONG_NUMBER) < 0:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # the stdlib decides: it accepts more, and its error is the one callers know
    return json.loads(data)


def dumps(obj: Any) -> str:
    """``obj`` as JSON text with non-ASCII characters as they are, like
    ``json.dumps(obj, ensure_ascii=False)`` (without its spaces).

    Where orjson writes it, ``NaN`` and infinities are ``null`` (the stdlib writes ``NaN``, which
    no JSON peer reads), and dataclasses, dates, enums and UUIDs are written rather than refused.
    Raises ``TypeError`` (``ValueError`` for a cycle) for what neither can write. The text may
    hold a lone surrogate, which has no UTF-8 form: a caller that encodes it must be ready for
    ``UnicodeEncodeError``.
    """
    try:
        return orjson.dumps(obj).decode()
    except TypeError:
        # orjson.JSONEncodeError, a TypeError: a lone surrogate, an integer past 64 bits, a
        # non-string key or nesting past 254 levels, all of which the stdlib writes.
        return json.dumps(obj, ensure_ascii=False)
