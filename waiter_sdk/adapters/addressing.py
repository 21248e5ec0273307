"""``addressed_text``: a group message that mentions the bot, as the text addressed to it.

Usage: ``addressed_text(chain, "10001")`` is ``"/help"`` for ``[reply][at 10001] /help``, and
``None`` when the bot is not mentioned first or last. Every adapter whose platform marks
mentions as ``At`` components uses it, so "talking to the bot" means the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..events import At, Component, MessageChain, Plain, Reply

__all__ = ["addressed_text"]


def _plain_text(components: Iterable[Component]) -> str:
    return "".join(c.text for c in components)


def addressed_text(
    chain: MessageChain,
    self_id: str,
    text_of: Callable[[Iterable[Component]], str] = _plain_text,
) -> str | None:
    """The text of a group message that mentions the bot first or last, without that mention.

    ``None`` when the bot is not mentioned there. Leading quotes and blank text do not count,
    so ``[reply][at bot] /help`` is addressed and its command text is ``/help``. ``text_of``
    turns the remaining components into text (a platform may keep text inside other
    components).
    """
    if not self_id:
        return None
    items: list[Component] = list(chain)
    first = 0
    while first < len(items) and (isinstance(items[first], Reply) or _blank(items[first])):
        first += 1
    last = len(items) - 1
    while last >= 0 and _blank(items[last]):
        last -= 1
    if first < len(items) and _mentions(items[first], self_id):
        removed, leading = first, True
    elif last >= 0 and _mentions(items[last], self_id):
        removed, leading = last, False
    else:
        return None
    text = text_of(c for index, c in enumerate(items) if index != removed)
    return text.lstrip() if leading else text.rstrip()


def _mentions(component: Component, self_id: str) -> bool:
    return isinstance(component, At) and component.user_id == self_id


def _blank(component: Component) -> bool:
    return isinstance(component, Plain) and not component.content.strip()
