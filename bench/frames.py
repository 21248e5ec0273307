"""OneBot v11 event frames as an implementation (NapCat, Lagrange) sends them, for the bench.

``group_frame(...)`` returns the JSON text of one group message event, with the message either as
a segment array (``message_format: "array"``) or as a CQ string.
"""

from __future__ import annotations

import json
from typing import Any

SELF_ID = 10000


def group_payload(
    user_id: int,
    group_id: int,
    message_id: int,
    text: str,
    *,
    cq: bool = False,
    extra: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One ``post_type: message`` group event. ``extra`` segments go before the text."""
    segments: list[dict[str, Any]] = [*(extra or []), {"type": "text", "data": {"text": text}}]
    raw = "".join(_cq(s) for s in segments)
    return {
        "time": 1_760_000_000,
        "self_id": SELF_ID,
        "post_type": "message",
        "message_type": "group",
        "sub_type": "normal",
        "message_id": message_id,
        "group_id": group_id,
        "user_id": user_id,
        "anonymous": None,
        "message": raw if cq else segments,
        "raw_message": raw,
        "font": 0,
        "sender": {
            "user_id": user_id,
            "nickname": f"user{user_id}",
            "card": "",
            "role": "member",
            "sex": "unknown",
            "age": 0,
            "area": "",
            "level": "1",
            "title": "",
        },
        "message_format": "string" if cq else "array",
    }


def group_frame(
    user_id: int,
    group_id: int,
    message_id: int,
    text: str,
    *,
    cq: bool = False,
    extra: list[dict[str, Any]] | None = None,
) -> str:
    return json.dumps(
        group_payload(user_id, group_id, message_id, text, cq=cq, extra=extra),
        ensure_ascii=False,
        separators=(",", ":"),
    )


# A realistic mix for the parse scenario: plain text, a mention, a quote plus a mention, an image.
MIX: list[list[dict[str, Any]]] = [
    [],
    [{"type": "at", "data": {"qq": "20000"}}],
    [{"type": "reply", "data": {"id": "123456"}}, {"type": "at", "data": {"qq": str(SELF_ID)}}],
    [{"type": "image", "data": {"file": "abc.image", "url": "https://example.org/a.png"}}],
]


def _cq(segment: dict[str, Any]) -> str:
    kind, data = segment["type"], segment["data"]
    if kind == "text":
        return str(data["text"]).replace("&", "&amp;").replace("[", "&#91;").replace("]", "&#93;")
    params = "".join(f",{k}={v}" for k, v in data.items())
    return f"[CQ:{kind}{params}]"
