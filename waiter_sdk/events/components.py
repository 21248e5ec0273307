"""Message components: small immutable values that make up a message.

Usage: ``MessageChain([Plain("hi "), At("42"), Image("https://example.org/a.png")])``.

Each is a frozen slotted dataclass, so building one costs well under a microsecond and a chain can
be shared between the history, the sandbox and the adapter without defensive copies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

__all__ = ["At", "AtAll", "Component", "Face", "Image", "Plain", "Reply", "Segment"]


class Component:
    """Base of every message component; ``type`` names the kind, as OneBot segment types do."""

    __slots__ = ()
    type: ClassVar[str] = ""

    @property
    def text(self) -> str:
        """What this component contributes to the plain text of a message."""
        return ""


@dataclass(frozen=True, slots=True)
class Plain(Component):
    """Plain text."""

    type: ClassVar[str] = "text"
    content: str

    @property
    def text(self) -> str:
        return self.content


@dataclass(frozen=True, slots=True)
class At(Component):
    """A mention of one user. ``name`` is the display name when the platform sent one."""

    type: ClassVar[str] = "at"
    user_id: str
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.user_id, str):
            object.__setattr__(self, "user_id", str(self.user_id))


@dataclass(frozen=True, slots=True)
class AtAll(Component):
    """A mention of everyone in the group."""

    type: ClassVar[str] = "at_all"


@dataclass(frozen=True, slots=True)
class Image(Component):
    """An image given by URL, local path, ``file://`` URI or ``base64://`` data."""

    type: ClassVar[str] = "image"
    file: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Reply(Component):
    """A quote of an earlier message, by its id."""

    type: ClassVar[str] = "reply"
    message_id: str

    def __post_init__(self) -> None:
        if not isinstance(self.message_id, str):
            object.__setattr__(self, "message_id", str(self.message_id))


@dataclass(frozen=True, slots=True)
class Face(Component):
    """A platform emoji, by its id."""

    type: ClassVar[str] = "face"
    id: str

    def __post_init__(self) -> None:
        if not isinstance(self.id, str):
            object.__setattr__(self, "id", str(self.id))


def _frozen(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return data if isinstance(data, MappingProxyType) else MappingProxyType(dict(data))


@dataclass(frozen=True, slots=True)
class Segment(Component):
    """Any other platform segment, kept as its ``kind`` and ``data`` so nothing is lost on the way."""

    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", _frozen(self.data))

    @property
    def type(self) -> str:  # type: ignore[override]
        return self.kind

    def __hash__(self) -> int:
        return hash((self.kind, tuple(sorted(self.data.items(), key=lambda kv: kv[0]))))
