"""idiom_chain (成语接龙): a team game that the whole group plays in one session.

Usage::

    /idiom-chain                  (or /接龙) the bot proposes a first idiom
    /idiom-chain 一心一意          start from this idiom
    /idiom-chain pinyin           also accept the same sound: 意 (yi) may be followed by 亦步亦趋
    意气风发                       an answer: four characters, starting with the last one
    提示 / hint                    the bot plays the next idiom itself (and scores for it)
    分数 / scores                  the scoreboard so far
    退出 / exit                    end the game; anyone in the chat may

The game is the idiom chain of AstrBot's session docs, done properly:

* **One session for the whole group.** ``IdiomGameFilter`` keys a group message by its group, so
  every member's answer continues the same game; a private chat is a solo game. Unlike a plain
  ``GroupSessionFilter`` it only takes messages that belong to the game (four Chinese
  characters, or one of the words above), so table talk and other plugins' commands in the group
  keep working while a game runs, and games in other groups are separate sessions.
* **Rules.** An answer must be an idiom of the bundled list (``idioms.tsv``, 600 common ones),
  not used before in this game, and start with the last character of the previous idiom (with
  ``pinyin``: or with the same toneless syllable). A refused answer gets a one-line reason.
* **Scores.** One point per accepted idiom, per player; the bot scores for its hints, so a team
  that leans on hints may lose to the bot.
* **The bot's move.** The bot plays when asked (提示 / hint), not after every answer, so the
  group keeps the tempo. When nothing in the list can follow the current idiom, the bot starts a
  fresh chain at once instead of letting the game stall; when the list runs out, the game ends.
* **Idle timeout.** Each accepted idiom (a player's or the bot's) resets the deadline with
  ``controller.keep(idle_timeout, reset_timeout=True)``; refused answers do not. When
  ``idle_timeout`` seconds pass without one, the bot announces the winner(s) and the scores.
* **Who may end it.** Anyone in the chat: the game is cooperative, has no host, and the scores
  are announced whoever ends it (the same as the timeout).

Timeouts and the default rule are class attributes, so a test or the sandbox can shorten them::

    class QuickIdiomChain(IdiomChain):
        idle_timeout = 5.0
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import ClassVar

from waiter_sdk import (
    GroupSessionFilter,
    MessageEvent,
    MessageEventResult,
    Plugin,
    SessionBusyError,
    SessionController,
    SessionFilter,
    command,
    session_waiter,
)

from .book import IdiomBook, is_idiom_shaped, load_book, normalize
from .game import ChainGame, pick_start

__all__ = ["IdiomChain", "IdiomGameFilter"]

EXIT_WORDS = frozenset({"exit", "退出"})
HINT_WORDS = frozenset({"hint", "提示"})
SCORE_WORDS = frozenset({"scores", "score", "分数"})
SOUND_OPTIONS = frozenset({"pinyin", "sound", "同音"})
GAME_WORDS = EXIT_WORDS | HINT_WORDS | SCORE_WORDS

USAGE = "Usage: /idiom-chain [pinyin] [first idiom], e.g. /idiom-chain 一心一意"


class IdiomGameFilter(SessionFilter):
    """One session per group (per sender in a private chat), taking only game messages.

    Usage: ``await play(event, session_filter=IdiomGameFilter())``.

    Game messages are four Chinese characters (an answer, right or wrong) and the words of
    ``GAME_WORDS``; anything else returns ``None``, which leaves it to the other plugins. The key
    is namespaced so that another plugin's ``GroupSessionFilter`` session in the same group is a
    different session, not a ``SessionBusyError``.
    """

    _group = GroupSessionFilter()

    def filter(self, event: MessageEvent) -> str | None:
        if event.sender_id == event.self_id:
            return None  # a platform that echoes the bot's own messages must not feed the game
        text = normalize(event.message_str)
        if is_idiom_shaped(text) or text.casefold() in GAME_WORDS:
            return self.open_key(event)
        return None

    def open_key(self, event: MessageEvent) -> str:
        # The opening message is the command itself, which filter() would not take.
        return f"idiom-chain|{self._group.filter(event)}"


_FILTER = IdiomGameFilter()


@dataclass(frozen=True, slots=True)
class _Reply:
    """What a game message gets: the text, and whether it moved the game on."""

    text: str
    accepted: bool


class IdiomChain(Plugin):
    """The idiom chain game; see the module docstring for the rules."""

    name = "idiom_chain"
    description = "成语接龙: a group idiom-chain game, anyone in the chat may answer"

    idle_timeout: ClassVar[float] = 60.0
    """Seconds without an accepted idiom before the game ends and the winner is announced."""
    by_sound: ClassVar[bool] = False
    """Accept the same toneless pinyin by default (``/idiom-chain pinyin`` turns it on anyway)."""

    def __init__(self) -> None:
        # Read once per process (load_book caches it); a broken file fails the plugin at load.
        self.book: IdiomBook = load_book()
        self.random = random.Random()
        # Open games by session key: a second /idiom-chain in the same chat is told about the
        # running game instead of sending an intro and then failing with SessionBusyError.
        self._games: dict[str, ChainGame] = {}

    @command("idiom-chain", aliases=["接龙"])
    async def start(self, event: MessageEvent) -> AsyncIterator[MessageEventResult]:
        """Start an idiom chain in this chat: /idiom-chain [pinyin] [first idiom]."""
        by_sound, first, problem = self._options(event.args)
        if problem:
            yield event.plain_result(problem)
            return
        key = _FILTER.open_key(event)
        running = self._games.get(key)
        if running is not None:
            yield event.plain_result(
                f"A game is already on here: {running.current}, the next idiom starts with "
                f"{running.link}. Send 退出 to end it."
            )
            return
        if first is None:
            first = pick_start(self.book, self.random, by_sound=by_sound)
            if first is None:  # only with a tiny custom list
                yield event.plain_result("I know no idiom that can start a chain.")
                return
        game = ChainGame(self.book, first, by_sound)
        idle = self.idle_timeout

        @session_waiter(timeout=idle)
        async def play(controller: SessionController, message: MessageEvent) -> None:
            reply = self._turn(game, message)
            if reply is None:  # exit
                controller.stop()
                return
            if reply.accepted:
                controller.keep(idle, reset_timeout=True)
            await message.send(reply.text)
            if game.ended:
                controller.stop()

        rule = " or the same sound" if by_sound else ""
        # Claimed before the first await, so a second /idiom-chain sent meanwhile is told about
        # this game instead of sending an intro of its own.
        self._games[key] = game
        try:
            yield event.plain_result(
                f"成语接龙! Anyone here may answer. First idiom: {first}; the next starts with "
                f"{game.link}{rule}. 提示 = bot move, 分数 = scores, 退出 = end. "
                f"{idle:g} s without a new idiom ends the game."
            )
            await play(event, session_filter=_FILTER)
        except SessionBusyError:
            yield event.plain_result("A game is already on here; send 退出 to end it first.")
            return
        except TimeoutError:
            yield event.plain_result(f"⏰ Time's up: no new idiom for {idle:g} s. {game.summary()}")
            return
        finally:
            if self._games.get(key) is game:
                del self._games[key]
        # game.ended is empty when the session was closed from outside (an exit word of the
        # settings, the sandbox's Close button): the scores are still worth announcing.
        why = game.ended or "the session was closed"
        yield event.plain_result(f"Game over: {why}. {game.summary()}")

    def _options(self, args: list[str]) -> tuple[bool, str | None, str]:
        """``(by_sound, first idiom or None, problem)`` from the command's words."""
        by_sound = self.by_sound
        first: str | None = None
        for arg in args:
            word = normalize(arg)
            if word.casefold() in SOUND_OPTIONS:
                by_sound = True
            elif is_idiom_shaped(word) and first is None:
                first = word
            else:
                return by_sound, None, f"I don't understand {arg!r}. {USAGE}"
        if first is not None:
            if first not in self.book:
                return by_sound, None, f"{first} is not an idiom I know; pick another to start."
            if not self.book.next_moves(first, by_sound=by_sound, used={first}):
                return by_sound, None, f"No idiom I know follows {first}; pick another to start."
        return by_sound, first, ""

    def _turn(self, game: ChainGame, message: MessageEvent) -> _Reply | None:
        """Apply one game message to ``game``; what to answer, or ``None`` to end the game."""
        text = normalize(message.message_str)
        word = text.casefold()
        player = message.sender_name or message.sender_id
        if word in EXIT_WORDS:
            game.ended = f"{player} ended it"
            return None
        if word in SCORE_WORDS:
            scores = game.summary(final=False)
            return _Reply(f"{scores} Next starts with {game.link}.", accepted=False)
        if word in HINT_WORDS:
            previous = game.current
            bot_word = game.bot_move(self.random)
            if bot_word is None:  # cannot happen: a chain with no move is restarted at once
                return _Reply(f"Nothing follows {previous}.", accepted=False)
            line = f"🤖 Bot plays {bot_word} (+1 for the bot)."
        else:
            refusal = game.refusal(text)
            if refusal is not None:
                return _Reply(f"✗ {refusal}.", accepted=False)
            score = game.play(text, message.sender_id, player)
            line = f"✓ {player} +1 ({score} in all)."
        if not game.moves():
            # A dead end: nobody could ever answer, so the game would only wait for its timeout.
            stuck = game.current
            fresh = game.restart(self.random)
            if fresh is None:
                game.ended = "every idiom I know is used"
                return _Reply(
                    f"{line} Nothing follows {stuck}, and I have no idiom left!", accepted=True
                )
            line += f" Nothing in my list follows {stuck}, so a fresh start: {fresh}."
        return _Reply(f"{line} Next starts with {game.link}.", accepted=True)
