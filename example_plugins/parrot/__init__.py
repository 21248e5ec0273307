"""parrot: botoy's session example, the parrot that repeats you until you say ``q``.

Usage::

    /parrot        (or /复读机) the parrot starts listening to you
    hello          → hello
    q              (or 退出) → "🦜 Bye!" and the session ends
    (20 s silence) → the finish info: "🦜 20 s without a word: the parrot flew away."

It is written the botoy way, with ``start_session``: the handler reads the next message with
``must_text()`` in a loop, so the conversation reads top to bottom. Things to notice:

* **Scope.** ``start_session(event)`` with no arguments takes the starter's own messages in the
  group where they started it, plus their private messages (botoy's member scope); the other
  members of the group are not repeated. Started in a private chat, it takes that chat only.
* **Idle timeout with finish info.** ``set_default_timeout`` gives every ``must_text()`` 20 s;
  when one runs out, the session ends and the text of ``set_finish_info`` is sent.
* **Ending.** ``ss.finish("🦜 Bye!")``, without ``await`` as in botoy, ends the session and the
  handler (it raises to unwind, and the SDK then sends its text). The message after that goes to
  the plugins as usual (botoy itself loses it).
* Closed from outside (an exit word, the sandbox's Close, the bot stopping), ``must_text``
  raises ``SessionClosedError``; the parrot says why it left.
* The bot's own messages never reach the session, so a parrot cannot repeat itself in a loop.
"""

from __future__ import annotations

from typing import ClassVar

from waiter_sdk import MessageEvent, Plugin, SessionClosedError, command, start_session

__all__ = ["Parrot"]

# Why a session was closed from outside, in words for the player.
CLOSED_BECAUSE = {"shutdown": "the bot is stopping", "reloaded": "the plugin was reloaded"}


class Parrot(Plugin):
    """Repeats everything its starter says, until ``q`` or 20 s of silence."""

    name = "parrot"
    description = "botoy's parrot: repeats what you say until you send q"

    idle_timeout: ClassVar[float] = 20.0
    """Seconds of silence after which the parrot flies away."""
    stop_words: ClassVar[frozenset[str]] = frozenset({"q", "退出"})

    @command("parrot", aliases=["复读机"])
    async def parrot(self, event: MessageEvent) -> None:
        """Repeat everything you say; send q to stop."""
        ss = start_session(event)
        ss.set_default_timeout(self.idle_timeout)
        ss.set_finish_info(f"🦜 {self.idle_timeout:g} s without a word: the parrot flew away.")
        await ss.send("🦜 Parrot on: I repeat what you say. Send q to stop.")
        try:
            while True:
                # must_text ends the session (and this handler) with the finish info on timeout.
                text, message = await ss.must_text()
                if text.strip() in self.stop_words:
                    ss.finish("🦜 Bye!")  # as in botoy: no await; it ends this handler
                # The whole message, not only its text: images and faces are repeated too.
                await message.send(message.message)
        except SessionClosedError as closed:
            # Ended from outside (an exit word, the sandbox's Close, the bot stopping).
            why = CLOSED_BECAUSE.get(closed.reason or "", "the session was closed")
            await ss.send(f"🦜 The parrot flew away: {why}.")
