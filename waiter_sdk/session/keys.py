"""Session keys: one value type, one encoding to a string, for every key the SDK builds.

Usage::

    key = SessionKey("sender", "onebot11", "10001", chat="g42", sender="7")
    text = key.encode()                 # "sender|onebot11|10001|g42|7"
    assert SessionKey.decode(text) == key

A key names who a session listens to: its ``kind`` (which filter made it), the ``platform``
and ``bot`` account, the ``chat`` (``"g<group id>"`` or ``"p<user id>"``), the ``sender``, and a
``topic`` for whatever else tells sessions apart (a quoted message id, a plugin). A field that
does not apply is ``""``.

The registry (in memory now, on Redis later) only ever sees the encoded string, so the encoding
must be injective: two distinct keys never encode alike, whatever ids a platform or a sandbox
user types. Fields are joined with ``|``; a field holding ``|`` or ``\\`` is escaped (``\\`` as
``\\\\``, ``|`` as ``\\!``), so a separator inside an id can never forge another key's fields.
Trailing empty fields are left out ("group|sim|bot|gg1", not "group|sim|bot|gg1||"). Nearly every
id holds neither character: then the encoding is one f-string and two scans, on the path every
routed message takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..events import MessageEvent

__all__ = ["SessionKey", "chat_of", "encode_key", "key_field"]

_FIELDS = 6
_INDEX = {"kind": 0, "platform": 1, "bot": 2, "chat": 3, "sender": 4, "topic": 5}


def encode_key(
    kind: str, platform: str, bot: str, chat: str = "", sender: str = "", topic: str = ""
) -> str:
    """The string form of ``SessionKey(kind, platform, bot, chat, sender, topic)``.

    The one encoding of keys: ``SessionKey.encode`` and the built-in filters all call it.
    """
    key = f"{kind}|{platform}|{bot}|{chat}|{sender}|{topic}"
    if key.count("|") != _FIELDS - 1 or "\\" in key:
        key = "|".join(_escape(f) for f in (kind, platform, bot, chat, sender, topic))
    # Only the separators of empty trailing fields can end the key: an escaped field never
    # ends with "|".
    return key.rstrip("|")


def _escape(field: str) -> str:
    if "|" in field or "\\" in field:
        return field.replace("\\", "\\\\").replace("|", "\\!")
    return field


def _unescape(field: str) -> str:
    if "\\" not in field:
        return field
    out: list[str] = []
    chars = iter(field)
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            if escaped == "\\":
                out.append("\\")
            elif escaped == "!":
                out.append("|")
            else:
                raise ValueError(f"not an encoded session key field: {field!r}")
        else:
            out.append(char)
    return "".join(out)


def key_field(text: str, field: str) -> str:
    """One field of an encoded key, as ``getattr(SessionKey.decode(text), field)`` gives it.

    Usage: ``key_field("sender|sim|bot|gg1|alice", "sender") == "alice"``. Cheaper than a whole
    decode where a session opens (the routing pre-check needs one id).
    """
    fields = text.split("|")
    index = _INDEX[field]
    return _unescape(fields[index]) if index < len(fields) else ""


def chat_of(event: MessageEvent) -> str:
    """The chat field of ``event``'s conversation: ``"g<group id>"``, or ``"p<user id>"``."""
    group = event.group_id
    return f"p{event.sender_id}" if group is None else f"g{group}"


@dataclass(frozen=True, slots=True)
class SessionKey:
    """Who a session listens to, as a value. See the module docstring for the fields."""

    kind: str
    platform: str
    bot: str
    chat: str = ""
    sender: str = ""
    topic: str = ""

    def encode(self) -> str:
        return encode_key(self.kind, self.platform, self.bot, self.chat, self.sender, self.topic)

    @classmethod
    def decode(cls, text: str) -> SessionKey:
        """The key that ``text`` encodes; ``ValueError`` for a string no key encodes to."""
        fields = text.split("|")
        if len(fields) > _FIELDS:
            raise ValueError(f"not an encoded session key: {text!r}")
        fields += [""] * (_FIELDS - len(fields))
        kind, platform, bot, chat, sender, topic = (_unescape(f) for f in fields)
        return cls(kind, platform, bot, chat, sender, topic)

    def __str__(self) -> str:
        return self.encode()
