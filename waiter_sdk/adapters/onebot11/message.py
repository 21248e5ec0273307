"""OneBot v11 messages: CQ-code strings, segment arrays and the SDK's components.

Usage::

    segments = parse_message("hi [CQ:at,qq=42] &#91;ok&#93;")   # CQ string -> segment array
    chain = from_segments(segments)                             # -> MessageChain of components
    to_segments(MessageChain([Reply("7"), Plain("hi")]))        # -> what send_*_msg takes

    # Both incoming steps in one pass, plus the text, the quoted id and "is the bot mentioned":
    chain, text, reply_to, mentioned = read_message(payload["message"], self_id)

Incoming messages are parsed leniently (a CQ string, a segment array or one segment object; data
values that are numbers or booleans; unknown segment types kept as ``Segment`` with their data as
sent). What cannot be a message is a ``TypeError``: a message that is neither text nor segments,
or a segment whose type, or a value that a known segment type reads, is an array or an object.
Outgoing messages are always segment arrays, never CQ strings built from user text, and never
carry ``null`` in ``data``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ...events import At, AtAll, Component, Face, Image, MessageChain, Plain, Reply, Segment

__all__ = [
    "cq_escape",
    "cq_unescape",
    "from_segments",
    "image_file",
    "image_from_bytes",
    "parse_cq",
    "parse_message",
    "read_message",
    "to_cq",
    "to_segments",
]

SegmentDict = dict[str, Any]

# A CQ code body cannot contain a raw '[' or ']' (they are escaped), so this finds every code.
_CQ_CODE = re.compile(r"\[CQ:([^\[\]]*)\]")


def cq_escape(text: str, *, in_param: bool = False) -> str:
    """Escape ``text`` for a CQ string; ``in_param`` also escapes ``,`` (only valid in codes)."""
    # '&' first, or the '&' of the entities added below would be escaped again.
    text = text.replace("&", "&amp;").replace("[", "&#91;").replace("]", "&#93;")
    if in_param:
        text = text.replace(",", "&#44;")
    return text


def cq_unescape(text: str) -> str:
    """Undo ``cq_escape``; ``&amp;`` last, so ``&amp;#91;`` stays the literal ``&#91;``."""
    if "&" not in text:
        return text
    return (
        text.replace("&#44;", ",").replace("&#91;", "[").replace("&#93;", "]").replace("&amp;", "&")
    )


def parse_cq(message: str) -> list[SegmentDict]:
    """Split a CQ string into segment dicts, unescaping text and parameter values alike."""
    segments: list[SegmentDict] = []
    position = 0
    for match in _CQ_CODE.finditer(message):
        if match.start() > position:
            segments.append(_text(cq_unescape(message[position : match.start()])))
        kind, _, params = match.group(1).partition(",")
        data: dict[str, str] = {}
        if params:
            for part in params.split(","):
                # The first '=' separates key and value; values may contain '=' themselves.
                key, _, value = part.partition("=")
                if key:
                    data[key] = cq_unescape(value)
        segments.append({"type": kind.strip(), "data": data})
        position = match.end()
    if position < len(message):
        segments.append(_text(cq_unescape(message[position:])))
    return segments


def to_cq(segments: Iterable[Mapping[str, Any]]) -> str:
    """Render segments as a CQ string (text escaped, parameters escaped with ``,`` too)."""
    parts: list[str] = []
    for segment in segments:
        kind = str(segment.get("type", ""))
        data = segment.get("data") or {}
        if kind == "text":
            parts.append(cq_escape(_str(data.get("text", ""))))
            continue
        params = "".join(
            f",{key}={cq_escape(_str(value), in_param=True)}"
            for key, value in data.items()
            if value is not None
        )
        parts.append(f"[CQ:{kind}{params}]")
    return "".join(parts)


def parse_message(message: object) -> list[SegmentDict]:
    """Any form an implementation sends (CQ string, array, one segment, null) as segment dicts.

    Raises ``TypeError`` for anything else (a number, a segment type that is not a string).
    """
    if message is None:
        return []
    if isinstance(message, str):
        return parse_cq(message)
    if isinstance(message, Mapping):
        message = [message]
    if not isinstance(message, list):
        raise TypeError(
            f"a OneBot message is a string or a segment array, not {type(message).__name__}"
        )
    segments: list[SegmentDict] = []
    for item in message:
        if isinstance(item, Mapping):
            data = item.get("data")
            segments.append(
                {
                    "type": _scalar(item.get("type"), "segment type"),
                    "data": dict(data) if isinstance(data, Mapping) else {},
                }
            )
        elif isinstance(item, str):  # seen from hand-written clients: bare strings as text
            segments.append(_text(item))
    return segments


def from_segments(segments: Iterable[Mapping[str, Any]]) -> MessageChain:
    """Segment dicts as components; types the SDK has no component for become ``Segment``.

    Raises ``TypeError`` for a segment that is not an object, or a value of a known segment
    type that is an array or an object (``parse_message`` output never has the former).
    """
    components: list[Component] = []
    for segment in segments:
        if type(segment) is not dict and not isinstance(segment, Mapping):
            raise TypeError(f"a segment is an object, not {type(segment).__name__}")
        components.append(_from_segment(segment))
    return MessageChain._trusted(components)


def read_message(message: object, self_id: str) -> tuple[MessageChain, str, str | None, bool]:
    """``from_segments(parse_message(message))`` in one pass, with what an event needs besides.

    Returns the chain, its plain text, the id of the first quoted message (``None`` when none is
    quoted) and whether an ``At`` mentions ``self_id``. Raises ``TypeError`` as ``parse_message``
    and ``from_segments`` do.
    """
    items: list[Any]
    if type(message) is list:
        items = message
    elif message is None:
        items = []
    elif isinstance(message, str):
        items = parse_cq(message)
    elif isinstance(message, Mapping):
        items = [message]
    elif isinstance(message, list):
        items = message
    else:
        raise TypeError(
            f"a OneBot message is a string or a segment array, not {type(message).__name__}"
        )
    components: list[Component] = []
    texts: list[str] = []
    reply_to: str | None = None
    mentioned = False
    for item in items:
        if type(item) is dict or isinstance(item, Mapping):
            component = _from_segment(item)
        elif isinstance(item, str):  # seen from hand-written clients: bare strings as text
            component = Plain(item)
        else:
            continue  # as parse_message: neither a segment nor text
        components.append(component)
        if isinstance(component, Plain):
            texts.append(component.content)
        elif isinstance(component, Reply):
            if reply_to is None:
                reply_to = component.message_id
        elif isinstance(component, At) and component.user_id == self_id:
            mentioned = True
    return MessageChain._trusted(components), "".join(texts), reply_to, mentioned


def _from_segment(segment: Mapping[str, Any]) -> Component:
    kind = segment.get("type")
    if type(kind) is not str:
        kind = _scalar(kind, "segment type")
    data = segment.get("data")
    if type(data) is not dict and not isinstance(data, Mapping):
        data = {}
    return _component(kind, data)


# Values are tested with `type(value) is str` before `_scalar`: strings are the common case,
# and for them that skips a call and an abc isinstance check.
def _component(kind: str, data: Mapping[str, Any]) -> Component:
    if kind == "text":
        text = data.get("text")
        return Plain(text if type(text) is str else _scalar(text, "text"))
    if kind == "at":
        qq = data.get("qq")
        if type(qq) is not str:
            qq = _scalar(qq, "at qq")
        if qq == "all":
            return AtAll()
        name = data.get("name")
        if type(name) is not str:
            name = _scalar(name, "at name")
        return At(qq, name or None)
    if kind == "image":
        file = data.get("file")
        if type(file) is not str:
            file = _scalar(file, "image file")
        url = data.get("url")
        if type(url) is not str:
            url = _scalar(url, "image url")
        return Image(file or url, url or None)
    if kind == "reply":
        id_ = data.get("id")
        if id_ is not None:
            return Reply(id_ if type(id_) is str else _scalar(id_, "reply id"))
    elif kind == "face":
        id_ = data.get("id")
        if id_ is not None:
            return Face(id_ if type(id_) is str else _scalar(id_, "face id"))
    return Segment(kind, data)


def to_segments(chain: Iterable[Component], *, reply_to: str | None = None) -> list[SegmentDict]:
    """Components as the segment array that ``send_*_msg`` takes.

    A ``Reply`` (from the chain, or ``reply_to`` when the chain has none) goes first, as
    implementations require; ``None`` values never reach ``data``; images given as a local path
    become ``file://`` URIs.
    """
    replies: list[SegmentDict] = []
    body: list[SegmentDict] = []
    for component in chain:
        segment = _segment(component)
        (replies if segment["type"] == "reply" else body).append(segment)
    if not replies and reply_to is not None:
        replies.append({"type": "reply", "data": {"id": str(reply_to)}})
    return replies[:1] + body


def _segment(component: Component) -> SegmentDict:
    if isinstance(component, Plain):
        return _text(component.content)
    if isinstance(component, At):
        data = {"qq": component.user_id}
        if component.name:
            data["name"] = component.name
        return {"type": "at", "data": data}
    if isinstance(component, AtAll):
        return {"type": "at", "data": {"qq": "all"}}
    if isinstance(component, Image):
        return {"type": "image", "data": {"file": image_file(component.file)}}
    if isinstance(component, Reply):
        return {"type": "reply", "data": {"id": component.message_id}}
    if isinstance(component, Face):
        return {"type": "face", "data": {"id": component.id}}
    if isinstance(component, Segment):
        return {
            "type": component.kind,
            "data": {k: v for k, v in component.data.items() if v is not None},
        }
    raise TypeError(f"OneBot v11 cannot send a {type(component).__name__} component")


def image_file(file: str) -> str:
    """The ``file`` value for an image: URL, ``base64://`` and ``file://`` pass through,
    a ``data:`` URI becomes ``base64://``, a local path becomes a ``file://`` URI."""
    lowered = file[:16].lower()
    if lowered.startswith(("http://", "https://", "base64://", "file://")):
        return file
    if lowered.startswith("data:") and ";base64," in file[:100]:
        return "base64://" + file.split(";base64,", 1)[1]
    path = Path(file)
    try:
        local = path.is_absolute() or path.exists()
    except OSError:  # a name too long to be a path, for one
        local = False
    if local:
        # The implementation reads the path itself, so it must be absolute.
        return path.resolve().as_uri()
    return file  # a file name or id the implementation handed out earlier


def image_from_bytes(data: bytes) -> Image:
    """An ``Image`` carrying ``data`` inline (``base64://``), for when the implementation runs
    on another machine and cannot read the bot's files."""
    return Image("base64://" + base64.b64encode(data).decode("ascii"))


def _text(text: str) -> SegmentDict:
    return {"type": "text", "data": {"text": text}}


def _scalar(value: object, what: str) -> str:
    """An incoming value read as text: ``None`` is empty, numbers and booleans as ``_str``."""
    if value is None:
        return ""
    if isinstance(value, Mapping | list):
        # Never str() a container: it is garbage, and a deeply nested one would recurse.
        raise TypeError(f"{what} is a string or a number, not {type(value).__name__}")
    return _str(value)


def _str(value: object) -> str:
    # Values are strings in the spec, but numbers and booleans arrive in practice.
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
