"""``ConsoleSettings``: the ``[console]`` section (``WAITER_CONSOLE__*``), owned by the console adapter."""

from __future__ import annotations

from ..config import Section

__all__ = ["ConsoleSettings"]


class ConsoleSettings(Section):
    """The console adapter."""

    user_id: str = "you"
    nickname: str = "You"
