"""guess_number: guess a number from 1 to 100 in 7 tries, with higher/lower hints.

Usage::

    /guess-number  (or /guess, /猜数字) the bot thinks of a number
    50             → "50 is too high. 6 tries left."
    25             → "🎉 25 is right! You got it in 2 tries."
    q              (or 退出) give up: the bot tells the number

It is the plain ``session_waiter`` style with the default ``SenderSessionFilter``: each player
has their own game, keyed by sender *and* chat, so Alice and Bob can both play in one group
without answering each other's game, and Alice's game in a group is not her game in private.

* Every valid guess calls ``controller.keep(guess_timeout, reset_timeout=True)``: the player
  gets ``guess_timeout`` seconds from their last guess, however long the game has run. Messages
  that are not guesses (text, numbers out of range) get a hint and do not move the deadline.
* The game ends with ``controller.stop()`` on a win, a loss (no tries left) or ``q``; on
  timeout the opener's ``await`` raises ``TimeoutError`` and the handler says what the number was.

``low``, ``high``, ``max_tries`` and ``guess_timeout`` are class attributes; a subclass (or a test)
can change them, and ``secret()`` picks the number.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import ClassVar

from waiter_sdk import (
    MessageEvent,
    MessageEventResult,
    Plugin,
    SessionBusyError,
    SessionController,
    command,
    session_waiter,
)

__all__ = ["GuessNumber"]

QUIT_WORDS = frozenset({"q", "quit", "退出"})


class GuessNumber(Plugin):
    """A per-player number-guessing game with a limited number of tries."""

    name = "guess_number"
    description = "Guess my number from 1 to 100 in 7 tries"

    low: ClassVar[int] = 1
    high: ClassVar[int] = 100
    max_tries: ClassVar[int] = 7
    guess_timeout: ClassVar[float] = 30.0
    """Seconds the player has for each guess (the deadline resets at every guess)."""

    def __init__(self) -> None:
        self.random = random.Random()

    def secret(self) -> int:
        """The number to guess; override for a fixed one in tests."""
        return self.random.randint(self.low, self.high)

    @command("guess-number", aliases=["guess", "猜数字"])
    async def start(self, event: MessageEvent) -> AsyncIterator[MessageEventResult]:
        """Guess a number from 1 to 100 in 7 tries; q gives up."""
        secret = self.secret()
        low, high, max_tries, timeout = self.low, self.high, self.max_tries, self.guess_timeout
        tries = 0

        @session_waiter(timeout=timeout)
        async def guess(controller: SessionController, message: MessageEvent) -> None:
            nonlocal tries
            text = message.message_str.strip()
            if text.casefold() in QUIT_WORDS:
                await message.send(f"You gave up. The number was {secret}.")
                controller.stop()
                return
            try:
                number = int(text)
            except ValueError:
                await message.send(f"Send a whole number from {low} to {high}, or q to give up.")
                return
            if not low <= number <= high:
                await message.send(f"{number} is out of range: {low} to {high}.")
                return
            tries += 1
            controller.keep(timeout, reset_timeout=True)
            if number == secret:
                plural = "try" if tries == 1 else "tries"
                await message.send(f"🎉 {number} is right! You got it in {tries} {plural}.")
                controller.stop()
                return
            direction = "low" if number < secret else "high"
            left = max_tries - tries
            if left == 0:
                await message.send(
                    f"✗ {number} is too {direction}, and that was your last try. "
                    f"The number was {secret}."
                )
                controller.stop()
                return
            plural = "try" if left == 1 else "tries"
            await message.send(f"{number} is too {direction}. {left} {plural} left.")

        yield event.plain_result(
            f"I'm thinking of a number from {low} to {high}. You have {max_tries} tries "
            f"and {timeout:g} s per guess. Your guess?"
        )
        try:
            await guess(event)
        except SessionBusyError:  # only if another plugin holds this sender's default session
            yield event.plain_result("Finish what you are doing first, then try again.")
        except TimeoutError:
            yield event.plain_result(f"⏰ Time's up! The number was {secret}.")
