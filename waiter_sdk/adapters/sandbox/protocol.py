"""What the sandbox page may send over its WebSocket, validated at the wire edge.

Usage::

    frame = parse_frame('{"type": "add_user", "name": "Dave"}')   # -> AddUser
    # a bad frame raises FrameError with one sentence for the page to show

Every field has a size bound so that one frame cannot grow the server's state without limit.
A frame over ``MAX_FRAME_BYTES`` is refused with an error frame (the page stays connected); only
one over ``MAX_SOCKET_BYTES`` makes the WebSocket itself close, and the page refuses to send
anything over ``MAX_FRAME_BYTES`` before it gets there. Refusals a person can cause by typing
(a message too long, too many parts) read as plain sentences, not validation output.
"""

from __future__ import annotations

import contextlib
import json
import unicodedata
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

__all__ = [
    "MAX_FRAME_BYTES",
    "MAX_SOCKET_BYTES",
    "MAX_TEXT",
    "AddGroup",
    "AddUser",
    "AtAllPart",
    "AtPart",
    "ClientFrame",
    "CloseSession",
    "ExpireSession",
    "FrameError",
    "ImagePart",
    "Named",
    "RenameUser",
    "Restore",
    "Role",
    "SendMessage",
    "SetRole",
    "TextPart",
    "parse_frame",
    "ref_of",
]

MAX_FRAME_BYTES = 64 * 1024
# The socket's own limit, far above any frame the page sends: a bigger one closes the socket
# (code 1009) before it is read; anything between the two is read and answered with an error.
MAX_SOCKET_BYTES = 16 * MAX_FRAME_BYTES
MAX_TEXT = 4000
MAX_PARTS = 32

# Ids end up in conversation keys and session keys; a short plain alphabet keeps them readable.
Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
# A user's role in the sandbox's groups: what a group message's ``sender_role`` says.
Role = Literal["member", "admin", "owner"]
ConvKey = Annotated[str, Field(pattern=r"^(group|private):[A-Za-z0-9_-]{1,32}$")]


class FrameError(ValueError):
    """A frame from the page is not JSON or not one of the known shapes.

    ``ref`` is the page's name for the message it sent, when the frame carried one: the error
    frame echoes it, so the page puts that text back in the box.
    """

    def __init__(self, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.ref = ref


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
    # The page's name for this message, echoed in the message frame or the error frame.
    ref: Id | None = None


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


class ExpireSession(_Frame):
    """ "Expire now": the session's deadline fires at once, as a real one would."""

    type: Literal["expire_session"]
    key: str = Field(min_length=1, max_length=512)


class SetRole(_Frame):
    """The role a user has in every group of the sandbox, to try permission checks."""

    type: Literal["set_role"]
    user_id: Id
    role: Role


class Named(_Frame):
    id: Id
    name: str
    role: Role | None = None  # users only; a page sends back what it was told

    _name = field_validator("name")(_clean_name)


class Restore(_Frame):
    """After a server restart the page offers back the users and groups it knew."""

    type: Literal["restore"]
    users: list[Named] = Field(default_factory=list, max_length=64)
    groups: list[Named] = Field(default_factory=list, max_length=32)


ClientFrame = Annotated[
    SendMessage
    | AddUser
    | RenameUser
    | AddGroup
    | CloseSession
    | ExpireSession
    | SetRole
    | Restore,
    Field(discriminator="type"),
]
_frames: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)


def ref_of(data: object) -> str | None:
    """The ``ref`` a decoded frame carries, if it is a well-formed one."""
    if isinstance(data, dict):
        ref = data.get("ref")
        if isinstance(ref, str) and 0 < len(ref) <= 32 and ref.replace("-", "").isalnum():
            return ref
    return None


def _too_long(data: dict[str, object]) -> str | None:
    """A plain sentence when a message's text is over ``MAX_TEXT``, else ``None``."""
    parts = data.get("parts")
    if data.get("type") != "send" or not isinstance(parts, list):
        return None
    length = sum(
        len(part["text"])
        for part in parts
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    )
    if length <= MAX_TEXT:
        return None
    return (
        f"This message has {length:,} characters; the limit is {MAX_TEXT:,}. "
        "Shorten it and send it again."
    )


def parse_frame(text: str) -> ClientFrame:
    """Validate one text frame; raise ``FrameError`` with a short, page-friendly reason."""
    if len(text) > MAX_FRAME_BYTES and len(text.encode()) > MAX_FRAME_BYTES:
        size = len(text.encode())
        ref = None
        with contextlib.suppress(ValueError, RecursionError):
            ref = ref_of(json.loads(text))
        raise FrameError(
            f"This message is too big to send ({-(-size // 1024):,} KB; the limit is "
            f"{MAX_FRAME_BYTES // 1024} KB). Shorten it and send it again.",
            ref,
        )
    try:
        data = json.loads(text)
    except ValueError:
        raise FrameError("frame is not valid JSON") from None
    except RecursionError:  # "[[[[...": refused like any bad frame, the page stays connected
        raise FrameError("frame is nested too deeply") from None
    if not isinstance(data, dict):
        raise FrameError("frame must be a JSON object with a 'type'")
    ref = ref_of(data)
    too_long = _too_long(data)
    if too_long is not None:
        raise FrameError(too_long, ref)
    try:
        return _frames.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "too_long" and tuple(first["loc"]) == ("send", "parts"):
            raise FrameError(
                f"This message has more than {MAX_PARTS} parts (text, mentions, images); "
                "remove some and send it again.",
                ref,
            ) from None
        where = ".".join(str(p) for p in first["loc"]) or "frame"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise FrameError(f"{where}: {first['msg']}{more}", ref) from None
