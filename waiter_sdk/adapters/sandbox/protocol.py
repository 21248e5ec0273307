"""What the sandbox page may send over its WebSocket, validated at the wire edge.

Usage::

    frame = parse_frame('{"type": "add_user", "name": "Dave"}')   # -> AddUser
    # a bad frame raises FrameError with one sentence for the page to show

Every field has a size bound so that one frame cannot grow the server's state without limit;
the WebSocket itself refuses frames over ``MAX_FRAME_BYTES``.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

__all__ = [
    "MAX_FRAME_BYTES",
    "AddGroup",
    "AddUser",
    "AtAllPart",
    "AtPart",
    "ClientFrame",
    "CloseSession",
    "FrameError",
    "ImagePart",
    "Named",
    "RenameUser",
    "Restore",
    "SendMessage",
    "TextPart",
    "parse_frame",
]

MAX_FRAME_BYTES = 64 * 1024
MAX_TEXT = 4000
MAX_PARTS = 32

# Ids end up in conversation keys and session keys; a short plain alphabet keeps them readable.
Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
ConvKey = Annotated[str, Field(pattern=r"^(group|private):[A-Za-z0-9_-]{1,32}$")]


class FrameError(ValueError):
    """A frame from the page is not JSON or not one of the known shapes."""


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _clean_name(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("a name needs at least one visible character")
    if len(value) > 32:
        raise ValueError("a name has at most 32 characters")
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        raise ValueError("a name may not contain control characters")
    return value


class TextPart(_Frame):
    type: Literal["text"]
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class AtPart(_Frame):
    type: Literal["at"]
    user_id: Id


class AtAllPart(_Frame):
    type: Literal["at_all"]


class ImagePart(_Frame):
    type: Literal["image"]
    # Only web URLs: the page shows them with <img>, and a local path or script URL has no
    # business there.
    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2048)


Part = Annotated[TextPart | AtPart | AtAllPart | ImagePart, Field(discriminator="type")]


class SendMessage(_Frame):
    """A user says something in a group or in their private chat with the bot."""

    type: Literal["send"]
    conv: ConvKey
    sender: Id
    parts: list[Part] = Field(min_length=1, max_length=MAX_PARTS)
    reply_to: Id | None = None


class AddUser(_Frame):
    type: Literal["add_user"]
    name: str
    user_id: Id | None = None

    _name = field_validator("name")(_clean_name)


class RenameUser(_Frame):
    type: Literal["rename_user"]
    user_id: Id
    name: str

    _name = field_validator("name")(_clean_name)


class AddGroup(_Frame):
    type: Literal["add_group"]
    name: str
    group_id: Id | None = None

    _name = field_validator("name")(_clean_name)


class CloseSession(_Frame):
    type: Literal["close_session"]
    key: str = Field(min_length=1, max_length=512)


class Named(_Frame):
    id: Id
    name: str

    _name = field_validator("name")(_clean_name)


class Restore(_Frame):
    """After a server restart the page offers back the users and groups it knew."""

    type: Literal["restore"]
    users: list[Named] = Field(default_factory=list, max_length=64)
    groups: list[Named] = Field(default_factory=list, max_length=32)


ClientFrame = Annotated[
    SendMessage | AddUser | RenameUser | AddGroup | CloseSession | Restore,
    Field(discriminator="type"),
]
_frames: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)


def parse_frame(text: str) -> ClientFrame:
    """Validate one text frame; raise ``FrameError`` with a short, page-friendly reason."""
    try:
        data = json.loads(text)
    except ValueError:
        raise FrameError("frame is not valid JSON") from None
    except RecursionError:  # "[[[[...": refused like any bad frame, the page stays connected
        raise FrameError("frame is nested too deeply") from None
    if not isinstance(data, dict):
        raise FrameError("frame must be a JSON object with a 'type'")
    try:
        return _frames.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "frame"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise FrameError(f"{where}: {first['msg']}{more}") from None
