"""``MessageChain``: an immutable sequence of components, and the conversion from what users send."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, SupportsIndex, overload

from .components import Component, Plain

if TYPE_CHECKING:
    pass

__all__ = ["MessageChain", "to_chain"]


class MessageChain(tuple[Component, ...]):
    """A message as a tuple of components.

    Usage: ``MessageChain([Plain("hi"), At("42")]).plain_text == "hi"``.
    A tuple, so it is hashable, cheap to snapshot and cannot change under a reader.
    """

    __slots__ = ()

    def __new__(cls, components: Iterable[Component | str] = ()) -> MessageChain:
        items: list[Component] = []
        for item in components:
            if isinstance(item, str):
                items.append(Plain(item))
            elif isinstance(item, Component):
                items.append(item)
            else:
                raise TypeError(
                    f"a message chain holds components or str, not {type(item).__name__}"
                )
        return super().__new__(cls, items)

    @classmethod
    def _trusted(cls, components: Iterable[Component]) -> MessageChain:
        """Build without per-item checks; for adapters that already made components."""
        return tuple.__new__(cls, components)

    @property
    def plain_text(self) -> str:
        """The text of every component joined, mentions and images left out."""
        return "".join([c.text for c in self])

    def __add__(self, other: Iterable[Component | str]) -> MessageChain:  # type: ignore[override]
        return MessageChain([*self, *other])

    @overload
    def __getitem__(self, index: SupportsIndex) -> Component: ...
    @overload
    def __getitem__(self, index: slice) -> MessageChain: ...
    def __getitem__(self, index: SupportsIndex | slice) -> Component | MessageChain:
        if isinstance(index, slice):
            return MessageChain._trusted(tuple.__getitem__(self, index))
        return tuple.__getitem__(self, index)

    def __repr__(self) -> str:
        return f"MessageChain({list(self)!r})"


def to_chain(message: object) -> MessageChain:
    """Turn anything ``event.send`` accepts into a chain, or raise ``TypeError`` naming the type."""
    from .result import MessageEventResult

    if isinstance(message, MessageChain):
        return message
    if isinstance(message, str):
        return MessageChain._trusted((Plain(message),))
    if isinstance(message, Component):
        return MessageChain._trusted((message,))
    if isinstance(message, MessageEventResult):
        return MessageChain(message.chain)
    if isinstance(message, list | tuple):
        return MessageChain(message)
    raise TypeError(
        "send() takes str, a component, a list of components, a MessageChain or a "
        f"MessageEventResult, not {type(message).__name__}"
    )
