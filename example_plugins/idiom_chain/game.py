"""One idiom-chain game: the chain so far, who scored, and the moves the rules allow.

Usage::

    game = ChainGame(load_book(), first="一心一意")
    game.refusal("意气风发")           # None: a good move
    game.play("意气风发", "alice", "Alice")
    game.refusal("意气风发")           # "意气风发 was already used"
    game.summary()                     # "Winner: Alice (1 point). Scores: Alice 1."

No I/O and no clock: the plugin decides what to send and when the game ends.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass, field

from .book import IdiomBook

__all__ = ["BOT", "ChainGame", "pick_start"]

BOT = ("", "Bot")  # the bot's (id, name) on the scoreboard; no platform user has an empty id


def pick_start(
    book: IdiomBook, rng: random.Random, *, by_sound: bool = False, used: Collection[str] = ()
) -> str | None:
    """A random unused idiom that some unused idiom can follow; ``None`` if there is none.

    Usage: ``first = pick_start(load_book(), random.Random())``.
    """
    playable = book.playable(by_sound=by_sound)
    fresh = [
        w
        for w in book.pinyin
        if w in playable and w not in used and book.next_moves(w, by_sound=by_sound, used=used)
    ]
    return rng.choice(fresh) if fresh else None


@dataclass(eq=False)
class ChainGame:
    """The state of one game. ``by_sound`` also accepts an idiom whose first syllable is the
    previous one's last (toneless pinyin), not only the same character."""

    book: IdiomBook
    first: str
    by_sound: bool = False
    current: str = field(init=False)
    used: set[str] = field(init=False)
    scores: dict[str, int] = field(default_factory=dict, init=False)
    names: dict[str, str] = field(default_factory=dict, init=False)
    # Why the game ended, in a few words, set by whoever ends it ("" while it runs).
    ended: str = field(default="", init=False)

    def __post_init__(self) -> None:
        if self.first not in self.book:
            raise ValueError(f"{self.first} is not in the idiom list; start from a known idiom")
        self.current = self.first
        self.used = {self.first}

    @property
    def link(self) -> str:
        """What the next idiom must start with, as shown to players."""
        return self.book.link(self.current, by_sound=self.by_sound)

    def refusal(self, word: str) -> str | None:
        """Why ``word`` may not come next, in a few words; ``None`` if it may."""
        if word not in self.book:
            return f"{word} is not an idiom I know"
        if word in self.used:
            return f"{word} was already used"
        if not self.book.follows(self.current, word, by_sound=self.by_sound):
            return f"{word} does not start with {self.link}"
        if word not in self.book.playable(by_sound=self.by_sound):
            # Taking it would leave nobody a move: the chain would stall until its timeout.
            return f"{word} would end the chain: nothing in my list follows it"
        if not self.book.next_moves(word, by_sound=self.by_sound, used=self.used | {word}):
            return f"{word} would end the chain: every idiom that follows it was used"
        return None

    def play(self, word: str, player_id: str, player_name: str) -> int:
        """Add ``word`` (checked with ``refusal`` first) for a player; returns their score."""
        self.current = word
        self.used.add(word)
        self.scores[player_id] = self.scores.get(player_id, 0) + 1
        self.names[player_id] = player_name or player_id
        return self.scores[player_id]

    def moves(self) -> list[str]:
        """Every idiom that may come next: unused, and leaving an unused idiom to follow it."""
        book, by_sound, used = self.book, self.by_sound, self.used
        return [
            word
            for word in book.next_moves(self.current, by_sound=by_sound, used=used)
            if book.next_moves(word, by_sound=by_sound, used=used | {word})
        ]

    def exhausted(self) -> bool:
        """True when idioms follow the current one in the list, but every one was used (or
        leads only to used ones): what a fresh start says instead of "nothing follows"."""
        return bool(self.book.next_moves(self.current, by_sound=self.by_sound))

    def bot_move(self, rng: random.Random) -> str | None:
        """Play a move for the bot (it scores like a player); ``None`` if there is none."""
        moves = self.moves()
        if not moves:
            return None
        # Prefer a move after which the chain can still go on two steps: a hint should not
        # walk the players into a corner the list has no way out of.
        book, by_sound, used = self.book, self.by_sound, self.used
        safe = [
            word
            for word in moves
            if any(
                book.next_moves(nxt, by_sound=by_sound, used=used | {word, nxt})
                for nxt in book.next_moves(word, by_sound=by_sound, used=used | {word})
            )
        ]
        word = rng.choice(safe or moves)
        self.play(word, *BOT)
        return word

    def restart(self, rng: random.Random) -> str | None:
        """Start a fresh chain from an unused idiom that someone can follow; ``None`` when the
        list is exhausted. Nobody scores for it."""
        fresh = pick_start(self.book, rng, by_sound=self.by_sound, used=self.used)
        if fresh is not None:
            self.current = fresh
            self.used.add(fresh)
        return fresh

    def ranking(self) -> list[tuple[str, int]]:
        """``(name, score)`` best first; ties keep the order in which players first scored."""
        ordered = sorted(self.scores.items(), key=lambda item: -item[1])
        return [(self.names[pid], score) for pid, score in ordered]

    def winners(self) -> tuple[list[str], int]:
        """The names with the best score, and that score (``([], 0)`` if nobody scored)."""
        ranking = self.ranking()
        if not ranking:
            return [], 0
        best = ranking[0][1]
        return [name for name, score in ranking if score == best], best

    def summary(self, *, final: bool = True) -> str:
        """The winner(s) (or, with ``final=False``, the leader(s)) and the scores in one line."""
        names, best = self.winners()
        if not names:
            return "Nobody scored." if final else "Nobody has scored yet."
        points = "point" if best == 1 else "points"
        title = "Winner" if final else "Leading"
        if len(names) == 1:
            head = f"{title}: {names[0]} ({best} {points})."
        else:
            title += "s" if final else ""
            head = f"{title}: {', '.join(names[:-1])} and {names[-1]} ({best} {points} each)."
        table = ", ".join(f"{name} {score}" for name, score in self.ranking())
        return f"{head} Scores: {table}."
