"""``MessageEventResult``: the AstrBot-style builder that handlers yield or pass to ``send``."""

from __future__ import annotations

from typing import Self

from .components import At, AtAll, Component, Face, Image, Plain

__all__ = ["MessageEventResult"]


class MessageEventResult:
    """A reply under construction.

    Usage: ``yield event.make_result().message("hi ").at("42")``.
    ``chain`` is a plain list so AstrBot plugins that append to it keep working.
    """

    __slots__ = ("chain",)

    def __init__(self, chain: list[Component] | None = None) -> None:
        self.chain: list[Component] = chain if chain is not None else []

    def message(self, text: str) -> Self:
        self.chain.append(Plain(text))
        return self

    def at(self, user_id: str, name: str | None = None) -> Self:
        self.chain.append(At(user_id, name))
        return self

    def at_all(self) -> Self:
        self.chain.append(AtAll())
        return self

    def image(self, url_or_path: str) -> Self:
        self.chain.append(Image(url_or_path))
        return self

    def face(self, face_id: str) -> Self:
        self.chain.append(Face(face_id))
        return self

    def __repr__(self) -> str:
        return f"MessageEventResult({self.chain!r})"
