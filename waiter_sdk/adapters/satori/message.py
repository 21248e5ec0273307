"""Satori content strings as the SDK's components, and back.

Usage::

    chain = from_content('<quote id="9"/>hi <at id="42" name="Al"/>')
    # MessageChain([Reply('9'), Plain('hi '), At('42', 'Al')])
    to_content(chain) == '<quote id="9"/>hi <at id="42" name="Al"/>'

What maps to what (docs/adapters/satori.md has the table):

* text ↔ ``Plain``; ``<br/>`` becomes a line break in the text.
* ``<at id>`` (and ``name``) ↔ ``At``; ``<at type="all"/>`` ↔ ``AtAll``.
* ``<quote id>`` ↔ ``Reply`` (the quoted content inside it is the platform's rendering of the
  other message, not part of this one, and is left out); sent first, as platforms expect.
* ``<img src>`` ↔ ``Image``; ``<face id>`` ↔ ``Face``.
* Everything else (``audio``, ``video``, ``file``, ``b``, ``sharp``, ``button``, a platform's own
  elements, and the known ones with attributes the SDK's component has no field for) is kept
  as a ``Segment`` whose ``kind`` is the element name and whose ``data`` holds the attributes,
  plus ``children`` (a ``MessageChain``) when it has content. It is written back as it came.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from pathlib import Path

from ...events import At, AtAll, Component, Face, Image, MessageChain, Plain, Reply, Segment
from .elements import MAX_DEPTH, Element, Node, parse, render, valid_name

__all__ = ["chain_text", "from_content", "from_nodes", "image_src", "to_content", "to_nodes"]

# Elements whose content is not part of what the sender wrote (or not text at all).
_NOT_TEXT = frozenset({"quote", "author", "button"})


def from_content(content: str) -> MessageChain:
    """A content string as a chain (never raises on a str)."""
    return from_nodes(parse(content))


def from_nodes(nodes: Iterable[Node]) -> MessageChain:
    """Parsed nodes as components; adjacent texts (``<br/>`` included) become one ``Plain``."""
    components: list[Component] = []
    for node in nodes:
        component = Plain(node) if isinstance(node, str) else _component(node)
        if isinstance(component, Plain) and components and isinstance(components[-1], Plain):
            components[-1] = Plain(components[-1].content + component.content)
        else:
            components.append(component)
    return MessageChain._trusted(components)


def _component(element: Element) -> Component:
    name = element.name
    attrs = dict(element.attrs)
    keys = attrs.keys()
    if not element.children:
        if name == "at":
            user = attrs.get("id")
            if isinstance(user, str) and user and keys <= {"id", "name"}:
                shown = attrs.get("name")
                return At(user, shown if isinstance(shown, str) and shown else None)
            if attrs == {"type": "all"}:
                return AtAll()
        elif name in ("img", "image"):
            src = attrs.get("src")
            if isinstance(src, str) and src and keys == {"src"}:
                return Image(src)
        elif name == "face":
            face = attrs.get("id")
            if isinstance(face, str) and face and keys == {"id"}:
                return Face(face)
        elif name == "br" and not attrs:
            return Plain("\n")
    if name == "quote":
        quoted = attrs.get("id")
        if isinstance(quoted, str) and quoted and keys == {"id"}:
            return Reply(quoted)
    data: dict[str, object] = dict(attrs)
    if element.children:
        data["children"] = from_nodes(element.children)
    return Segment(name, data)


def chain_text(chain: Iterable[Component], _depth: int = 0) -> str:
    """The text of a chain as the sender wrote it: the text inside kept elements (``<b>``,
    ``<a>``...) counts; quoted content and images do not."""
    parts: list[str] = []
    for component in chain:
        if isinstance(component, Segment):
            children = component.data.get("children")
            if (
                isinstance(children, MessageChain)
                and component.kind not in _NOT_TEXT
                and _depth < MAX_DEPTH
            ):
                parts.append(chain_text(children, _depth + 1))
        else:
            parts.append(component.text)
    return "".join(parts)


def to_content(chain: Iterable[Component], *, reply_to: str | None = None) -> str:
    """Components as the ``content`` of ``message.create``.

    A ``Reply`` (from the chain, or ``reply_to`` when the chain has none) goes first. Raises
    ``TypeError`` for a component Satori cannot carry (one of another adapter's own classes,
    or a ``Segment`` whose kind or attribute names cannot be written).
    """
    nodes = to_nodes(chain)
    quotes = [n for n in nodes if isinstance(n, Element) and n.name == "quote"]
    body = [n for n in nodes if not (isinstance(n, Element) and n.name == "quote")]
    if not quotes and reply_to is not None:
        quotes = [Element("quote", (("id", str(reply_to)),))]
    try:
        return render([*quotes[:1], *body])
    except ValueError as exc:
        raise TypeError(f"Satori cannot send this message: {exc}") from None


def to_nodes(chain: Iterable[Component], _depth: int = 0) -> list[Node]:
    """Components as element nodes, in order (``to_content`` without the quote placement)."""
    nodes: list[Node] = []
    for component in chain:
        if isinstance(component, Plain):
            nodes.append(component.content)
        elif isinstance(component, At):
            attrs: tuple[tuple[str, str | bool], ...] = (("id", component.user_id),)
            if component.name:
                attrs += (("name", component.name),)
            nodes.append(Element("at", attrs))
        elif isinstance(component, AtAll):
            nodes.append(Element("at", (("type", "all"),)))
        elif isinstance(component, Image):
            nodes.append(Element("img", (("src", image_src(component.file)),)))
        elif isinstance(component, Reply):
            nodes.append(Element("quote", (("id", component.message_id),)))
        elif isinstance(component, Face):
            nodes.append(Element("face", (("id", component.id),)))
        elif isinstance(component, Segment):
            nodes.append(_segment(component, _depth))
        else:
            raise TypeError(f"Satori cannot send a {type(component).__name__} component")
    return nodes


def _segment(segment: Segment, depth: int) -> Element:
    if not valid_name(segment.kind):
        raise TypeError(f"Satori cannot send a {segment.kind!r} segment: not an element name")
    if depth >= MAX_DEPTH:
        raise TypeError(f"Satori cannot send segments nested deeper than {MAX_DEPTH} levels")
    attrs: list[tuple[str, str | bool]] = []
    children: list[Node] = []
    for key, value in segment.data.items():
        if key == "children":
            children = _children(value, depth)
            continue
        if value is None:
            continue
        if not isinstance(key, str) or not valid_name(key):
            raise TypeError(f"Satori cannot send attribute {key!r} of a {segment.kind!r} segment")
        if isinstance(value, bool):
            attrs.append((key, value))
        elif isinstance(value, str | int | float):
            attrs.append((key, str(value)))
        else:
            raise TypeError(
                f"attribute {key!r} of a {segment.kind!r} segment is "
                f"{type(value).__name__}; Satori attributes are text, numbers or flags"
            )
    return Element(segment.kind, tuple(attrs), tuple(children))


def _children(value: object, depth: int) -> list[Node]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Component):
        return to_nodes([value], depth + 1)
    if isinstance(value, Iterable) and not isinstance(value, Mapping | bytes):
        items = list(value)
        if all(isinstance(item, Component | str) for item in items):
            return to_nodes(MessageChain(items), depth + 1)
    raise TypeError(f"a segment's children are text or components, not {type(value).__name__}")


def image_src(file: str) -> str:
    """The ``src`` of an image: URLs (``http``, ``https``, ``data``, ``file``) pass through,
    ``base64://`` becomes a ``data:`` URL, a local path a ``file://`` URI."""
    head = file[:16].lower()
    if head.startswith(("http://", "https://", "data:", "file:", "internal:")):
        return file
    if head.startswith("base64://"):
        payload = file[len("base64://") :]
        return f"data:{_sniff(payload)};base64,{payload}"
    path = Path(file)
    try:
        local = path.is_absolute() or path.exists()
    except (OSError, ValueError):  # a name too long to be a path, or one with a NUL
        local = False
    return path.resolve().as_uri() if local else file


def _sniff(payload: str) -> str:
    # The data URL needs a type; the first bytes tell the common image formats apart.
    try:
        head = base64.b64decode(payload[:24] + "=" * (-len(payload[:24]) % 4))
    except ValueError:
        return "application/octet-stream"
    for magic, mime in (
        (b"\x89PNG", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF8", "image/gif"),
        (b"RIFF", "image/webp"),
    ):
        if head.startswith(magic):
            return mime
    return "application/octet-stream"
