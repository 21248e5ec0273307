"""Satori message elements: the XML-like content string, parsed to a tree and written back.

Usage::

    nodes = parse('hi <at id="42"/> &amp; <b>bold</b>')
    # ['hi ', Element('at', (('id', '42'),)), ' & ', Element('b', (), ('bold',))]
    render(nodes) == 'hi <at id="42"/> &amp; <b>bold</b>'

The syntax follows the protocol's "message encoding" page: ``&quot; &amp; &lt; &gt;`` and
decimal or hexadecimal references (``&#39;``, ``&#x27;``) in text and attribute values; tags
``<name attr="v" flag/>``, ``<name>...</name>``; comments ``<!-- -->`` are dropped; a tag that is
never closed (or a close tag that opens nothing) is text, as the page says; a whitespace run that
holds a line break at either end of a text run is dropped. ``render`` writes line breaks there as
``&#10;`` so that they survive that rule.

Hostile input costs linear time: every regular expression stops at the next ``<``, and nesting
deeper than ``MAX_DEPTH`` is read as text, so no recursion over the tree can overflow; tags past
``MAX_TAGS`` are text too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = [
    "MAX_DEPTH",
    "MAX_TAGS",
    "Element",
    "Node",
    "escape",
    "parse",
    "render",
    "unescape",
    "valid_name",
]

MAX_DEPTH = 32
"""Elements nested deeper than this are read as text (no real message nests this far)."""

MAX_TAGS = 10_000
"""Tags after this many in one string are read as text, so a hostile message costs the reader
milliseconds, not seconds (a real message has a few dozen)."""

Attr = tuple[str, "str | bool"]


@dataclass(frozen=True, slots=True)
class Element:
    """One element: its name, its attributes in order, its children (text or elements).

    An attribute given bare (``<x flag/>``) is ``True``; ``no-flag`` is ``("flag", False)``.
    """

    name: str
    attrs: tuple[Attr, ...] = ()
    children: tuple[Node, ...] = ()

    def attr(self, key: str) -> str | bool | None:
        for name, value in self.attrs:
            if name == key:
                return value
        return None


Node = str | Element

# A tag name as the protocol has it (a letter, then letters, digits, hyphens), plus what
# implementations use beyond that (Koishi's "onebot:face" style names, underscores, dots).
_NAME = r"[A-Za-z][A-Za-z0-9_:.\-]*"
_NAME_RE = re.compile(_NAME)
# Attribute values never hold a raw '<' in a well-formed string (writers escape it), so no
# part of a tag reaches past the next '<': a failed match costs at most that far.
_ATTR_TEXT = r"""(?:\s+[^\s=/>"'<]+(?:\s*=\s*(?:"[^"<]*"|'[^'<]*'|[^\s"'<>=]+))?)*"""
_TAG = re.compile(rf"<(/?)({_NAME})({_ATTR_TEXT})\s*(/?)>")
_ATTR = re.compile(r"""([^\s=/>"'<]+)(?:\s*=\s*(?:"([^"<]*)"|'([^'<]*)'|([^\s"'<>=]+)))?""")
_REF = re.compile(r"&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,7})|(amp|lt|gt|quot|apos));")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def valid_name(name: str) -> bool:
    """Whether ``name`` can be written as an element or attribute name."""
    return _NAME_RE.fullmatch(name) is not None


def escape(text: str, *, attribute: bool = False) -> str:
    """``text`` with ``& < >`` escaped (and ``"`` in an attribute value)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;") if attribute else text


def _reference(match: re.Match[str]) -> str:
    decimal, hexadecimal, named = match.groups()
    if named is not None:
        return _NAMED[named]
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    # NUL, surrogates and numbers past Unicode are no characters: the text stays as it was.
    if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        return match.group(0)
    return chr(code)


def unescape(text: str) -> str:
    """Undo ``escape`` and resolve ``&#N;`` / ``&#xH;`` references; unknown ones stay as text."""
    if "&" not in text:
        return text
    return _REF.sub(_reference, text)


def _trim(text: str) -> str:
    # The protocol drops a whitespace run holding a line break at either end of a text run.
    # str.strip, not a regex: '\s*\n\s*$' backtracks quadratically over a long run of spaces.
    stripped = text.lstrip()
    if "\n" in text[: len(text) - len(stripped)]:
        text = stripped
    stripped = text.rstrip()
    if "\n" in text[len(stripped) :]:
        text = stripped
    return text


def _attrs(source: str) -> tuple[Attr, ...]:
    found: dict[str, str | bool] = {}
    for match in _ATTR.finditer(source):
        key, double, single, bare = match.groups()
        value = double if double is not None else single if single is not None else bare
        if value is not None:
            found[key] = unescape(value)
        elif key.startswith("no-") and len(key) > 3:
            found[key[3:]] = False
        else:
            found[key] = True
    return tuple(found.items())


class _Frame:
    """An open tag waiting for its close tag, and what it holds so far."""

    __slots__ = ("_run", "attrs", "children", "name", "source")

    def __init__(self, name: str, attrs: tuple[Attr, ...], source: str) -> None:
        self.name = name
        self.attrs = attrs
        self.source = source
        self.children: list[Node] = []
        # Adjacent texts are joined once, at the end: '+=' on each would be quadratic.
        self._run: list[str] = []

    def text(self, text: str) -> None:
        if text:
            self._run.append(text)

    def element(self, element: Element) -> None:
        self._flush()
        self.children.append(element)

    def _flush(self) -> None:
        if self._run:
            self.children.append("".join(self._run))
            self._run = []

    def take(self) -> list[Node]:
        """Everything it holds, adjacent texts joined."""
        self._flush()
        return self.children


def _tokens(source: str) -> Iterator[tuple[str, str | re.Match[str]]]:
    """("text", raw text) and ("tag", match), comments left out; one pass over ``source``."""
    position = 0
    size = len(source)
    start = 0  # where the pending text run began
    tags = 0
    while position < size and tags < MAX_TAGS:
        lt = source.find("<", position)
        if lt < 0:
            break
        if source.startswith("<!--", lt):
            end = source.find("-->", lt + 4)
            if end < 0:
                break  # an unclosed comment is text, like any unpaired tag
            if lt > start:
                yield "text", source[start:lt]
            position = start = end + 3
            continue
        match = _TAG.match(source, lt)
        if match is None:
            position = lt + 1
            continue
        if lt > start:
            yield "text", source[start:lt]
        yield "tag", match
        tags += 1
        position = start = match.end()
    if start < size:
        yield "text", source[start:]


def parse(source: str) -> list[Node]:
    """The content string ``source`` as a list of text and elements (never raises on a str)."""
    root = _Frame("", (), "")
    stack: list[_Frame] = [root]
    for kind, token in _tokens(source):
        top = stack[-1]
        if kind == "text":
            assert isinstance(token, str)
            top.text(unescape(_trim(token)))
            continue
        assert isinstance(token, re.Match)
        closing, name, attr_source, empty = token.groups()
        if closing:
            index = len(stack) - 1
            while index > 0 and stack[index].name != name:
                index -= 1
            if index == 0:
                top.text(unescape(token.group(0)))  # closes nothing: text
                continue
            while len(stack) - 1 > index:
                _unwind(stack)
            frame = stack.pop()
            stack[-1].element(Element(frame.name, frame.attrs, tuple(frame.take())))
        elif empty:
            top.element(Element(name, _attrs(attr_source)))
        elif len(stack) > MAX_DEPTH:
            top.text(unescape(token.group(0)))
        else:
            stack.append(_Frame(name, _attrs(attr_source), token.group(0)))
    while len(stack) > 1:
        _unwind(stack)
    return root.take()


def _unwind(stack: list[_Frame]) -> None:
    # A tag never closed is text: its source, then its children, in its parent's place.
    frame = stack.pop()
    parent = stack[-1]
    parent.text(unescape(frame.source))
    for child in frame.take():
        if isinstance(child, str):
            parent.text(child)
        else:
            parent.element(child)


def _protect(text: str) -> str:
    """``escape(text)``, with line breaks at either end written as ``&#10;`` so ``_trim``
    keeps them."""
    text = escape(text)
    stripped = text.lstrip()
    lead = text[: len(text) - len(stripped)]
    if "\n" in lead:
        text = lead.replace("\n", "&#10;") + stripped
    stripped = text.rstrip()
    tail = text[len(stripped) :]
    if "\n" in tail:
        text = stripped + tail.replace("\n", "&#10;")
    return text


def render(nodes: Iterable[Node], _depth: int = 0) -> str:
    """``nodes`` as a content string; adjacent texts are written as one run.

    Raises ``ValueError`` for an element or attribute name that cannot be written, or for
    nesting deeper than ``MAX_DEPTH``.
    """
    if _depth > MAX_DEPTH:
        raise ValueError(f"elements nested deeper than {MAX_DEPTH} levels cannot be sent")
    parts: list[str] = []
    run: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            run.append(node)
            continue
        if run:
            parts.append(_protect("".join(run)))
            run = []
        parts.append(_element(node, _depth))
    if run:
        parts.append(_protect("".join(run)))
    return "".join(parts)


def _element(element: Element, depth: int) -> str:
    if not valid_name(element.name):
        raise ValueError(f"{element.name!r} is not an element name")
    attrs: list[str] = []
    for key, value in element.attrs:
        if not valid_name(key):
            raise ValueError(f"{key!r} is not an attribute name (element {element.name!r})")
        if value is True:
            attrs.append(f" {key}")
        elif value is False:
            attrs.append(f" no-{key}")
        else:
            attrs.append(f' {key}="{escape(value, attribute=True)}"')
    head = f"<{element.name}{''.join(attrs)}"
    if not element.children:
        return head + "/>"
    return f"{head}>{render(element.children, depth + 1)}</{element.name}>"
