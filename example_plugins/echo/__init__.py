"""echo: the smallest plugin, a command and a one-question session.

Usage: ``/echo hello`` repeats "hello"; ``/echo`` alone asks what to repeat and waits 30 s.
A question closed from outside (an exit word, the sandbox's Close, the bot stopping) says so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from waiter_sdk import (
    MessageEvent,
    MessageEventResult,
    Plugin,
    SessionClosedError,
    SessionController,
    command,
    session_waiter,
)

# Why a session was closed from outside, in words for the player.
CLOSED_BECAUSE = {"shutdown": "the bot is stopping", "reloaded": "the plugin was reloaded"}


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

        repeated = False

        @session_waiter(timeout=30)
        async def repeat(controller: SessionController, reply: MessageEvent) -> None:
            nonlocal repeated
            await reply.send(reply.message_str)
            repeated = True
            controller.stop()

        try:
            await repeat(event)
        except TimeoutError:
            yield event.plain_result("Nothing to repeat, then.")
        except SessionClosedError as closed:
            why = CLOSED_BECAUSE.get(closed.reason or "", "it was closed")
            yield event.plain_result(f"Nothing repeated: {why}.")
        else:
            if not repeated:  # it returned without an answer: closed from outside
                yield event.plain_result("Echo closed before you said anything.")
