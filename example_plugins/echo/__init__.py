"""echo: the smallest plugin, a command and a one-question session.

Usage: ``/echo hello`` repeats "hello"; ``/echo`` alone asks what to repeat and waits 30 s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from waiter_sdk import (
    MessageEvent,
    MessageEventResult,
    Plugin,
    SessionController,
    command,
    session_waiter,
)


class Echo(Plugin):
    name = "echo"
    description = "Repeats what you say"

    @command("echo", aliases=["复读"])
    async def echo(self, event: MessageEvent) -> AsyncIterator[MessageEventResult]:
        """Repeat the words after the command, or ask for them."""
        if event.args:
            yield event.plain_result(" ".join(event.args))
            return
        yield event.plain_result("What should I repeat?")

        @session_waiter(timeout=30)
        async def repeat(controller: SessionController, reply: MessageEvent) -> None:
            await reply.send(reply.message_str)
            controller.stop()

        try:
            await repeat(event)
        except TimeoutError:
            yield event.plain_result("Nothing to repeat, then.")
