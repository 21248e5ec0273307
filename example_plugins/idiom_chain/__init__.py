"""idiom_chain (成语接龙): a team game that the whole group plays in one session.

Usage::

    /idiom-chain                  (or /接龙) the bot proposes a first idiom
    /idiom-chain 一心一意          start from this idiom
    /idiom-chain pinyin           also accept the same sound: 意 (yi) may be followed by 亦步亦趋
    意气风发                       an answer: four characters, starting with the last one
    提示 / hint                    the bot plays the next idiom itself (and scores for it)
    分数 / scores                  the scoreboard so far
    退出 / exit                    end the game; anyone in the chat may
    /rank                         (or /排行) this chat's all-time top 10, kept across restarts

The game is the idiom chain of AstrBot's session docs, done properly:

* **One session for the whole group.** ``IdiomGameFilter`` keys a group message by its group, so
  every member's answer continues the same game; a private chat is a solo game. Unlike a plain
  ``GroupSessionFilter`` it only takes messages that belong to the game (four Chinese
  characters, or one of the words above), so table talk and other plugins' commands in the group
  keep working while a game runs, and games in other groups are separate sessions.
* **Rules.** An answer must be an idiom of the bundled list (``idioms.tsv``, over 700), not used
  before in this game, and start with the last character of the previous idiom (with
  ``pinyin``: or with the same toneless syllable). It must also leave the chain a way on: the
  game moves only through *playable* idioms (``IdiomBook.playable``: some playable idiom
  follows each), so no answer and no hint leads to "nothing follows". A refused answer gets a
  one-line reason.
* **Scores.** One point per accepted idiom, per player; the bot scores for its hints, so a team
  that leans on hints may lose to the bot.
* **The bot's move.** The bot plays when asked (提示 / hint), not after every answer, so the
  group keeps the tempo, and its hint avoids a move that corners the chain. When every idiom
  that could follow the current one was used, the bot starts a fresh chain at once instead of
  letting the game stall; when the list runs out, the game ends.
* **Idle timeout.** Each accepted idiom (a player's or the bot's) resets the deadline with
  ``controller.keep(idle_timeout, reset_timeout=True)``; refused answers do not. When
  ``idle_timeout`` seconds pass without one, the bot announces the winner(s) and the scores.
* **Who may end it.** Anyone in the chat: the game is cooperative, has no host, and the scores
  are announced whoever ends it (the same as the timeout).
* **All-time ranking.** Each chat keeps its players' points across games and restarts
  (``channel_fields = IdiomRecords``): a game adds its points however it ends (list exhausted,
  退出, timeout, closed, or the bot stopping), and ``/rank`` shows the top 10.

Timeouts and the default rule are class attributes, so a test or the sandbox can shorten them::

    class QuickIdiomChain(IdiomChain):
        idle_timeout = 5.0
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import ClassVar

from loguru import logger
from pydantic import Field

from waiter_sdk import (
    GroupSessionFilter,
    MessageEvent,
    MessageEventResult,
    Plugin,
    SessionBusyError,
    SessionClosedError,
    SessionController,
    SessionFilter,
    command,
    session_waiter,
)
from waiter_sdk.exceptions import StorageError
from waiter_sdk.storage import Counter, Fields

from .book import IdiomBook, is_idiom_shaped, load_book, normalize
from .game import ChainGame, pick_start

__all__ = ["IdiomChain", "IdiomGameFilter", "IdiomRecords"]

EXIT_WORDS = frozenset({"exit", "退出"})
HINT_WORDS = frozenset({"hint", "提示"})
SCORE_WORDS = frozenset({"scores", "score", "分数"})
SOUND_OPTIONS = frozenset({"pinyin", "sound", "同音"})
GAME_WORDS = EXIT_WORDS | HINT_WORDS | SCORE_WORDS

USAGE = "Usage: /idiom-chain [pinyin] [first idiom], e.g. /idiom-chain 一心一意"
RANK_SIZE = 10


class IdiomRecords(Fields):
    """What the game keeps per chat (a group, or a private chat's solo games), across restarts.

    ``totals`` and ``names`` are written back whole, so the last write wins. That is safe here
    because only the end of a game writes them and a chat has one game at a time (the plugin
    refuses a second ``/idiom-chain`` while one runs); ``games`` is a ``Counter`` all the same.
    """

    totals: dict[str, int] = Field(default_factory=dict)
    """All-time points by player id; the bot's hints score too, under the id ``""``."""
    names: dict[str, str] = Field(default_factory=dict)
    """The name each player last played under, for the ranking."""
    games: Counter = 0
    """Games played in this chat, scored or not."""


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
    description = (
        "成语接龙: a group idiom-chain game, anyone in the chat may answer; "
        "/rank keeps the all-time scores"
    )
    channel_fields = IdiomRecords

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
            try:
                await play(event, session_filter=_FILTER)
            except TimeoutError:
                ending = f"⏰ Time's up: no new idiom for {idle:g} s. {game.summary()}"
            except SessionClosedError as closed:
                # The bot is stopping or reloading: the game ends here, its points are kept.
                why = (
                    "the plugin was reloaded"
                    if closed.reason == "reloaded"
                    else "the bot is stopping"
                )
                ending = f"Game over: {why}. {game.summary()}"
            else:
                # game.ended is empty when the session was closed from outside (an exit word of
                # the settings, the sandbox's Close button): the scores are still worth announcing.
                why = game.ended or "the session was closed"
                ending = f"Game over: {why}. {game.summary()}"
        except SessionBusyError:
            yield event.plain_result("A game is already on here; send 退出 to end it first.")
            return
        finally:
            if self._games.get(key) is game:
                del self._games[key]
        await self._record(event, game)
        yield event.plain_result(ending)

    @command("rank", aliases=["排行"])
    async def rank(self, event: MessageEvent) -> AsyncIterator[MessageEventResult]:
        """This chat's all-time top 10 of the idiom chain."""
        try:
            records = await event.observe_channel(IdiomRecords)
        except StorageError as exc:
            logger.warning("idiom_chain: no ranking, storage unavailable: {}", exc)
            yield event.plain_result("The ranking is unavailable right now; try again later.")
            return
        yield event.plain_result(ranking_text(records))

    async def _record(self, event: MessageEvent, game: ChainGame) -> None:
        """Add ``game``'s points to this chat's all-time totals (written back when the handler
        returns). Without storage the game still ends and is announced; only the ranking misses
        it."""
        try:
            records = await event.observe_channel(IdiomRecords)
        except StorageError as exc:
            logger.warning("idiom_chain: a game's points were not kept: {}", exc)
            return
        totals = dict(records.totals)
        for player, points in game.scores.items():
            totals[player] = totals.get(player, 0) + points
        records.totals = totals
        records.names = {**records.names, **game.names}
        records.games += 1

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
            # The book's playable idioms always have a follower, so it is one this game used.
            stuck = game.current
            why = (
                f"Every idiom that could follow {stuck} was used"
                if game.exhausted()
                else f"Nothing in my list follows {stuck}"
            )
            fresh = game.restart(self.random)
            if fresh is None:
                game.ended = "every idiom I know is used"
                return _Reply(
                    f"{line} Nothing follows {stuck}, and I have no idiom left!", accepted=True
                )
            line += f" {why}, so a fresh start: {fresh}."
        return _Reply(f"{line} Next starts with {game.link}.", accepted=True)


def ranking_text(records: IdiomRecords, size: int = RANK_SIZE) -> str:
    """A chat's all-time ranking, best first, in one message.

    Players with the same points share a place and are listed by name (then id), so the order
    never depends on the order the database returns them in::

        🏆 成语接龙 all-time top 3 (2 games here):
        1. Bob 3
        2. Alice 2
        2. Bot 2
    """
    if not records.totals:
        return "No 成语接龙 scores here yet: start a game with /接龙 and take first place!"
    rows = sorted(
        (
            (records.names.get(player, player), player, points)
            for player, points in records.totals.items()
        ),
        key=lambda row: (-row[2], row[0].casefold(), row[1]),
    )[:size]
    games = f"{records.games} game{'' if records.games == 1 else 's'}"
    lines = [f"🏆 成语接龙 all-time top {len(rows)} ({games} here):"]
    place = 0
    for index, (name, _, points) in enumerate(rows):
        if index == 0 or points != rows[index - 1][2]:
            place = index + 1  # ties share a place: 1, 2, 2, 4
        lines.append(f"{place}. {name} {points}")
    return "\n".join(lines)
