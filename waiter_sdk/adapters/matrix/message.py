"""Matrix ``m.room.message`` content and the SDK's components, both ways.

Usage::

    read = read_content(event["content"], self_id="@bot:example.org")
    read.chain, read.text, read.reply_to, read.mentioned   # components, text, quoted id, to the bot?

    parts = render(MessageChain([At("@ann:example.org", "Ann"), Plain(" hi")]), reply_to="$ev")
    # -> [{"msgtype": "m.text", "body": "Ann hi", "format": ..., "m.mentions": ...}]

Incoming, the text comes from ``formatted_body`` when it holds mention pills (links to
``https://matrix.to/#/@user:server``, which become ``At`` with the link text as name), else from
``body``, where a bare ``@user:server`` becomes an ``At``. A reply's fallback (the ``> <@user>``
lines heading ``body``, the ``<mx-reply>`` block of ``formatted_body``) is cut off; the quoted
event's id is ``reply_to`` and a ``Reply`` heads the chain. Users in ``m.mentions.user_ids``
that the text does not show are added as ``At`` at the end, so "is the bot mentioned" has one
answer. Images are ``Image`` with their ``mxc://`` URI; other media (files, audio, video,
locations) are ``Segment`` with the msgtype as kind. What cannot be read (a body that is an object, a relation that is a list) is a
``TypeError``, and nothing else escapes.

Outgoing, consecutive text and mentions make one ``m.text`` (or ``m.notice``) event, each image
one ``m.image`` event (uploaded by the adapter, see ``Upload``); a reply relation goes on the
first event. No reply fallback is sent: Matrix 1.13 dropped it, and clients render the relation.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, unquote

from ...events import At, AtAll, Component, Image, MessageChain, Plain, Reply, Segment
from ..addressing import addressed_text as _addressed

__all__ = ["Read", "Upload", "addressed_text", "pill", "read_content", "render", "strip_fallback"]

Content = dict[str, Any]

_TEXT_TYPES = frozenset({"m.text", "m.notice", "m.emote"})
_MEDIA_TYPES = frozenset({"m.file", "m.audio", "m.video"})
_HTML = "org.matrix.custom.html"
_PILL_PREFIX = "https://matrix.to/#/"
# A user id as the spec's grammar has it (historical ids allow more in the localpart), then a
# server name with an optional port; not preceded by a word character, so mail addresses
# (ann@example.org) are not mentions.
_USER_ID = re.compile(r"(?<![\w@])@[\w.=\-/+]+:[A-Za-z0-9\-.]*[A-Za-z0-9](?::\d{1,5})?")
_MX_REPLY = re.compile(r"<mx-reply>.*</mx-reply>", re.S | re.I)
_BLOCKS = frozenset({"p", "div", "li", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6"})


@dataclass(frozen=True, slots=True)
class Read:
    """What an incoming message holds: components, plain text, quoted event, bot mentioned."""

    chain: MessageChain
    text: str
    reply_to: str | None
    mentioned: bool


@dataclass(frozen=True, slots=True)
class Upload:
    """An image of an outgoing message that must become an ``m.image`` event.

    ``relates`` holds the reply relation when this is the message's first event.
    """

    image: Image
    relates: Content | None


# --- incoming ---------------------------------------------------------------------------------


def read_content(content: Mapping[str, Any], self_id: str) -> Read:
    """The components of one ``m.room.message`` content; ``TypeError`` when unreadable."""
    msgtype = _string(content.get("msgtype"), "msgtype")
    body = _string(content.get("body"), "body")
    reply_to = _reply_to(content.get("m.relates_to"))
    components: list[Component]
    if msgtype in _TEXT_TYPES:
        formatted = content.get("formatted_body")
        if (
            content.get("format") == _HTML
            and isinstance(formatted, str)
            and _PILL_PREFIX in formatted
        ):
            components = _from_html(_MX_REPLY.sub("", formatted))
        else:
            if reply_to is not None:
                body = strip_fallback(body)
            components = _from_text(body)
    elif msgtype == "m.image":
        url = _media_url(content)
        components = [Image(url)] if url else [Segment("m.image", {"body": body})]
    elif msgtype in _MEDIA_TYPES:
        components = [Segment(msgtype, {"url": _media_url(content), "body": body})]
    else:
        # m.location, m.key.verification.request, a client's own type: kept, never as text,
        # so a command cannot hide in a type the bot does not know.
        components = [Segment(msgtype or "unknown", {"body": body})]
    components = _add_mentions(components, content.get("m.mentions"))
    if reply_to is not None:
        # First in the chain, as OneBot's reply segment is: plugins find quotes one way.
        components = [Reply(reply_to), *components]
    chain = MessageChain._trusted(components)
    mentioned = any(isinstance(c, At) and c.user_id == self_id for c in components)
    return Read(chain, chain.plain_text, reply_to, mentioned)


def strip_fallback(body: str) -> str:
    """``body`` without the reply fallback: leading ``>`` lines and the blank line after them."""
    if not body.startswith(">"):
        return body
    lines = body.split("\n")
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    if index < len(lines) and lines[index] == "":
        index += 1
    return "\n".join(lines[index:])


def _reply_to(relates: object) -> str | None:
    if relates is None:
        return None
    if not isinstance(relates, Mapping):
        raise TypeError(f"m.relates_to is an object, not {type(relates).__name__}")
    reply = relates.get("m.in_reply_to")
    if reply is None:
        return None
    if not isinstance(reply, Mapping):
        raise TypeError(f"m.in_reply_to is an object, not {type(reply).__name__}")
    event_id = reply.get("event_id")
    return event_id if isinstance(event_id, str) and event_id else None


def _media_url(content: Mapping[str, Any]) -> str:
    url = content.get("url")
    if url is None:  # an encrypted file keeps its URI in "file"
        file = content.get("file")
        url = file.get("url") if isinstance(file, Mapping) else None
    return _string(url, "url")


def _from_text(text: str) -> list[Component]:
    components: list[Component] = []
    position = 0
    for match in _USER_ID.finditer(text):
        if match.start() > position:
            components.append(Plain(text[position : match.start()]))
        components.append(At(match.group(0)))
        position = match.end()
    if position < len(text) or not components:
        components.append(Plain(text[position:]))
    return components


class _Pills(HTMLParser):
    """Text and mention pills of a ``formatted_body``; every other tag is dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.components: list[Component] = []
        self._text: list[str] = []
        self._pill: str | None = None
        self._pill_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._add("\n")
        elif tag == "a" and self._pill is None:
            href = dict(attrs).get("href") or ""
            if href.startswith(_PILL_PREFIX):
                target = unquote(href[len(_PILL_PREFIX) :]).split("?", 1)[0]
                if target.startswith("@"):
                    self._flush()
                    self._pill, self._pill_text = target, []

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._pill is not None:
            name = "".join(self._pill_text).strip()
            self.components.append(At(self._pill, name or None))
            self._pill = None
        elif tag in _BLOCKS:
            self._add("\n")

    def handle_data(self, data: str) -> None:
        self._add(data)

    def _add(self, text: str) -> None:
        (self._pill_text if self._pill is not None else self._text).append(text)

    def _flush(self) -> None:
        if self._text:
            self.components.append(Plain("".join(self._text)))
            self._text = []

    def finish(self) -> list[Component]:
        self.close()
        if self._pill is not None:  # an unclosed pill: still a mention
            self.handle_endtag("a")
        self._flush()
        if self.components and isinstance(self.components[-1], Plain):
            last = self.components[-1].content.rstrip("\n")  # the closing </p>
            self.components[-1] = Plain(last)
        return self.components or [Plain("")]


def _from_html(formatted: str) -> list[Component]:
    parser = _Pills()
    parser.feed(formatted)
    return parser.finish()


def _add_mentions(components: list[Component], mentions: object) -> list[Component]:
    if mentions is None:
        return components
    if not isinstance(mentions, Mapping):
        raise TypeError(f"m.mentions is an object, not {type(mentions).__name__}")
    users = mentions.get("user_ids")
    if users is not None and not isinstance(users, list):
        raise TypeError(f"m.mentions.user_ids is an array, not {type(users).__name__}")
    shown = {c.user_id for c in components if isinstance(c, At)}
    added: list[Component] = []
    for user in users or ():
        if isinstance(user, str) and user.startswith("@") and user not in shown:
            shown.add(user)
            added.append(At(user))
    if mentions.get("room") is True and not any(isinstance(c, AtAll) for c in components):
        added.append(AtAll())
    return components + added if added else components


def addressed_text(chain: MessageChain, self_id: str) -> str | None:
    """The text of a message that mentions the bot first or last, without that mention.

    ``None`` when neither. The rule of every adapter (``adapters.addressing``), plus the
    separator that Matrix clients put after a leading pill ("Bot: /help" runs ``/help``).
    """
    text = _addressed(chain, self_id)
    if text is not None and text[:1] in (":", ",") and _leads_with(chain, self_id):
        text = text[1:].lstrip()
    return text


def _leads_with(chain: MessageChain, self_id: str) -> bool:
    for component in chain:
        if isinstance(component, Reply) or (
            isinstance(component, Plain) and not component.content.strip()
        ):
            continue
        return isinstance(component, At) and component.user_id == self_id
    return False


def _string(value: object, field: str) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, Mapping | list):
        raise TypeError(f"{field} is a string, not {type(value).__name__}")
    return str(value)


# --- outgoing ---------------------------------------------------------------------------------


def pill(user_id: str, name: str | None = None) -> str:
    """The HTML mention of ``user_id`` that clients render as a pill."""
    href = _PILL_PREFIX + quote(user_id, safe="@:")
    return f'<a href="{html.escape(href)}">{html.escape(name or user_id)}</a>'


def render(
    chain: Iterable[Component],
    *,
    reply_to: str | None = None,
    msgtype: str = "m.text",
    also_mention: Iterable[str] = (),
) -> list[Content | Upload]:
    """The events that send ``chain``: text contents, and images to upload as ``m.image``.

    A ``Reply`` in the chain (else ``reply_to``) becomes the first event's reply relation, and
    ``also_mention`` (the quoted message's sender) joins that event's ``m.mentions``. Raises
    ``TypeError`` for a component Matrix has no form for (``Face``, a foreign ``Segment``).
    """
    parts: list[Content | Upload] = []
    run: list[Component] = []
    in_chain: str | None = None
    for component in chain:
        if isinstance(component, Reply):
            in_chain = in_chain or component.message_id
            continue
        if isinstance(component, Plain | At | AtAll):
            run.append(component)
        elif isinstance(component, Image):
            if run:
                parts.append(_text_content(run, msgtype))
                run = []
            parts.append(Upload(component, None))
        else:
            raise TypeError(f"Matrix cannot send a {type(component).__name__} component")
    if run:
        parts.append(_text_content(run, msgtype))
    quoted = in_chain or reply_to
    if parts and quoted is not None:
        relates: Content = {"m.in_reply_to": {"event_id": quoted}}
        first = parts[0]
        if isinstance(first, Upload):
            parts[0] = Upload(first.image, relates)
        else:
            first["m.relates_to"] = relates
            mentions = first["m.mentions"]
            for user in also_mention:
                users = mentions.setdefault("user_ids", [])
                if user not in users:
                    users.append(user)
    return parts


def _text_content(run: list[Component], msgtype: str) -> Content:
    body: list[str] = []
    formatted: list[str] = []
    users: list[str] = []
    room = False
    for component in run:
        if isinstance(component, Plain):
            body.append(component.content)
            formatted.append(html.escape(component.content).replace("\n", "<br/>"))
        elif isinstance(component, At):
            body.append(component.name or component.user_id)
            formatted.append(pill(component.user_id, component.name))
            if component.user_id not in users:
                users.append(component.user_id)
        elif isinstance(component, AtAll):
            body.append("@room")
            formatted.append("@room")
            room = True
    content: Content = {"msgtype": msgtype, "body": "".join(body)}
    mentions: dict[str, Any] = {}
    if users:
        mentions["user_ids"] = users
    if room:
        mentions["room"] = True
    # An empty m.mentions says "this message mentions nobody", so clients do not guess from
    # the body (a display name in the text would otherwise ping).
    content["m.mentions"] = mentions
    if users:
        content["format"] = _HTML
        content["formatted_body"] = "".join(formatted)
    return content
