"""guess_number: guess a number from 1 to 100 in 7 tries, with higher/lower hints.

Usage::

    /guess-number  (or /guess, /猜数字) the bot thinks of a number
    50             → "50 is too high. 6 tries left."
    25             → "🎉 25 is right! You got it in 2 tries."
    q              (or 退出) give up: the bot tells the number
    /guess-best    mid-game: commands go on to the plugins, they are not guesses
    /guess-best    (or /best) your best game, and how many you played and won

It is the plain ``session_waiter`` style with the default ``SenderSessionFilter``: each player
has their own game, keyed by sender *and* chat, so Alice and Bob can both play in one group
without answering each other's game, and Alice's game in a group is not her game in private.

* Every valid guess calls ``controller.keep(guess_timeout, reset_timeout=True)``: the player
  gets ``guess_timeout`` seconds from their last guess, however long the game has run. Messages
  that are not guesses (text, numbers out of range) get a hint and do not move the deadline.
* A message that starts with ``/`` is a command, not a guess: ``controller.pass_on`` hands it to
  the plugins (``/help`` mid-game answers), and the game goes on.
* The game ends with ``controller.stop()`` on a win, a loss (no tries left) or ``q``; on
  timeout the opener's ``await`` raises ``TimeoutError`` and the handler says what the number was.
  Closed from outside (an exit word, the sandbox's Close, the bot stopping or reloading), the
  player is told so, with the number.

Each player's record is kept across restarts (``user_fields = GuessRecord``): games played,
counted when one starts (and flushed at once, so ``/guess-best`` from another chat shows it
mid-game; in the game's own chat every message is a guess), games won, and the best win, the
fewest tries. A win that beats the best says so.

``low``, ``high``, ``max_tries`` and ``guess_timeout`` are class attributes; a subclass (or a test)
can change them, and ``secret()`` picks the number.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import ClassVar

from loguru import logger

from waiter_sdk import (
    MessageEvent,
    MessageEventResult,
    Plugin,
    SessionBusyError,
    SessionClosedError,
    SessionController,
    command,
    session_waiter,
)
from waiter_sdk.exceptions import StorageError
from waiter_sdk.storage import Counter, Fields

__all__ = ["GuessNumber", "GuessRecord"]

QUIT_WORDS = frozenset({"q", "quit", "退出"})
# Why a session was closed from outside, in words for the player.
CLOSED_BECAUSE = {"shutdown": "the bot is stopping", "reloaded": "the plugin was reloaded"}


def _tries(n: int) -> str:
    return f"{n} try" if n == 1 else f"{n} tries"


class GuessRecord(Fields):
    """What the game keeps per player, across restarts."""

    played: Counter = 0
    won: Counter = 0
    best: int | None = None
    """The fewest tries of a win; ``None`` until the first one. A plain value, so the last write
    wins: only a win writes it, right after reading it."""


class GuessNumber(Plugin):
    """A per-player number-guessing game with a limited number of tries."""

    name = "guess_number"
    description = "Guess my number from 1 to 100 in 7 tries; /guess-best shows your record"
    user_fields = GuessRecord

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
        over = False  # the game ended itself (win, loss, q); otherwise it was closed

        @session_waiter(timeout=timeout)
        async def guess(controller: SessionController, message: MessageEvent) -> None:
            nonlocal tries, over
            text = message.message_str.strip()
            if text.startswith("/"):
                controller.pass_on(message)  # a command mid-game, not a guess
                return
            if text.casefold() in QUIT_WORDS:
                await message.send(f"You gave up. The number was {secret}.")
                over = True
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
                best = await self._won(message, tries)
                await message.send(f"🎉 {number} is right! You got it in {_tries(tries)}.{best}")
                over = True
                controller.stop()
                return
            direction = "low" if number < secret else "high"
            left = max_tries - tries
            if left == 0:
                await message.send(
                    f"✗ {number} is too {direction}, and that was your last try. "
                    f"The number was {secret}."
                )
                over = True
                controller.stop()
                return
            await message.send(f"{number} is too {direction}. {_tries(left)} left.")

        await self._count_game(event)
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
        except SessionClosedError as closed:
            why = CLOSED_BECAUSE.get(closed.reason or "", "the game was closed")
            yield event.plain_result(f"Game over: {why}. The number was {secret}.")
        else:
            if not over:  # ended from outside: an exit word, the sandbox's Close
                yield event.plain_result(f"Your game was closed. The number was {secret}.")

    @command("guess-best", aliases=["best"])
    async def best(self, event: MessageEvent) -> AsyncIterator[MessageEventResult]:
        """Your best game (fewest tries) and how many you played and won."""
        who = event.sender_name or event.sender_id
        try:
            record = await event.observe_user(GuessRecord)
        except StorageError as exc:
            logger.warning("guess_number: no record, storage unavailable: {}", exc)
            yield event.plain_result("Records are unavailable right now; try again later.")
            return
        if not record.played:
            yield event.plain_result(f"{who}, you have not played yet: /guess starts a game.")
            return
        games = f"{record.played} game{'' if record.played == 1 else 's'}"
        if record.best is None:
            yield event.plain_result(f"{who}: {games} played, no win yet. Keep guessing!")
            return
        yield event.plain_result(
            f"🏆 {who}: best {_tries(record.best)}; {record.won} of {games} won."
        )

    async def _count_game(self, event: MessageEvent) -> None:
        """Count a game for the sender, now: flushed at once rather than when the game ends, so
        /guess-best sent from another chat during the game already counts it. Without storage
        the game is played uncounted."""
        try:
            record = await event.observe_user(GuessRecord)
            record.played += 1
            await record.flush()
        except StorageError as exc:
            logger.warning("guess_number: a game was not counted: {}", exc)

    async def _won(self, message: MessageEvent, tries: int) -> str:
        """Count a win of ``tries`` for the sender (written back when the waiter call returns);
        the words to add when it beats their best, else ``""``."""
        try:
            record = await message.observe_user(GuessRecord)
        except StorageError as exc:
            logger.warning("guess_number: a win was not counted: {}", exc)
            return ""
        record.won += 1
        previous = record.best
        if previous is not None and tries >= previous:
            return ""
        record.best = tries
        # A first win sets the best without a fanfare: there was nothing to beat.
        return "" if previous is None else f" 🏆 A new best, down from {_tries(previous)}!"
