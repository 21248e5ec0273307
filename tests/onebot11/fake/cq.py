"""CQ-code strings for the fake implementation, written from the spec and not shared with the
adapter, so that the two sides check each other."""

from __future__ import annotations

from typing import Any

_TEXT = {"&": "&amp;", "[": "&#91;", "]": "&#93;"}
_PARAM = {**_TEXT, ",": "&#44;"}
_ENTITIES = {"&amp;": "&", "&#91;": "[", "&#93;": "]", "&#44;": ","}


def escape(text: str, param: bool = False) -> str:
    table = _PARAM if param else _TEXT
    return "".join(table.get(ch, ch) for ch in text)


def unescape(text: str) -> str:
    # One left-to-right scan, so "&amp;#91;" yields "&#91;" and not "[".
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "&":
            for entity, char in _ENTITIES.items():
                if text.startswith(entity, i):
                    out.append(char)
                    i += len(entity)
                    break
            else:
                out.append("&")
                i += 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def render(segments: list[dict[str, Any]]) -> str:
    parts = []
    for seg in segments:
        data = seg.get("data") or {}
        if seg["type"] == "text":
            parts.append(escape(str(data.get("text", ""))))
        else:
            params = "".join(f",{k}={escape(str(v), param=True)}" for k, v in data.items())
            parts.append(f"[CQ:{seg['type']}{params}]")
    return "".join(parts)


def parse(message: str) -> list[dict[str, Any]]:
    segments: list[dict[str, Any]] = []
    rest = message
    while rest:
        start = rest.find("[CQ:")
        end = rest.find("]", start) if start >= 0 else -1
        if start < 0 or end < 0:
            segments.append({"type": "text", "data": {"text": unescape(rest)}})
            break
        if start > 0:
            segments.append({"type": "text", "data": {"text": unescape(rest[:start])}})
        body = rest[start + 4 : end]
        kind, *params = body.split(",")
        data = {}
        for param in params:
            key, _, value = param.partition("=")
            data[key] = unescape(value)
        segments.append({"type": kind, "data": data})
        rest = rest[end + 1 :]
    return segments
