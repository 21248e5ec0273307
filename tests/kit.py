"""Helpers shared by the plugin tests: what the bot said, and what reached the plugins."""

from __future__ import annotations

from waiter_sdk import MessageEvent, Plugin, on_message
from waiter_sdk.testing import Outgoing


def texts(out: list[Outgoing]) -> list[str]:
    """The texts of what the bot sent, in order."""
    return [o.text for o in out]


class Fallback(Plugin):
    """Reports every message that reached the plugins (and was not a command)."""

    name = "fallback"

    @on_message(priority=-10)
    async def fallback(self, event: MessageEvent) -> None:
        if not event.message_str.startswith("/"):
            await event.send(f"plugin saw {event.message_str}")
