"""The idiom list (``idioms.tsv``) and the chain rule, loaded once per process.

Usage::

    book = load_book()
    book.follows("一心一意", "意气风发")                 # True: starts with 意
    book.follows("一心一意", "亦步亦趋", by_sound=True)  # True: 亦 is also "yi"
    book.next_moves("一心一意", used={"一心一意"})       # ["意气风发", ...]
    "理所当然" in book.playable(by_sound=False)          # False: nothing here follows it

An idiom the game may reach is *playable*: a playable idiom follows it, and another one that.
``playable`` is the largest such set (idioms that only lead into dead ends drop out too), so
a chain that moves only through playable idioms never reaches "nothing follows this";
``next_moves`` offers only playable idioms, and the game refuses an answer that is not one.

The file has a header ``idiom<TAB>pinyin`` and one idiom a line, with toneless pinyin, one
syllable per character, separated by spaces. Pinyin is given per idiom rather than per character
because a character's reading depends on the word (重 is "zhong" in 重于泰山, "chong" in 重整旗鼓).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["IdiomBook", "is_idiom_shaped", "load_book", "normalize"]

DATA = Path(__file__).with_name("idioms.tsv")

# Players type "意气风发！" or "意气风发。" as often as the bare idiom; the punctuation is no part of it.
_EDGE_PUNCTUATION = " \t\r\n。．.！!？?，,、~～…"


def normalize(text: str) -> str:
    """``text`` without surrounding spaces and punctuation. Usage: ``normalize(" 一心一意！")``."""
    return text.strip(_EDGE_PUNCTUATION)


def _is_hanzi(char: str) -> bool:
    # CJK Unified Ideographs and Extension A: enough for common idioms, and no punctuation.
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf"


def is_idiom_shaped(text: str) -> bool:
    """True for four Chinese characters: what an answer looks like, known or not.

    Usage: ``is_idiom_shaped("一心一意")`` is True, ``is_idiom_shaped("hello")`` is False.
    """
    return len(text) == 4 and all(_is_hanzi(c) for c in text)


@dataclass(frozen=True, slots=True)
class IdiomBook:
    """Known idioms with their pinyin, indexed by first character and by first syllable.

    Usage: ``IdiomBook.parse("idiom\\tpinyin\\n一心一意\\tyi xin yi yi\\n")``.
    """

    pinyin: Mapping[str, tuple[str, ...]]
    by_char: Mapping[str, tuple[str, ...]]
    by_sound: Mapping[str, tuple[str, ...]]
    # The playable idioms under each rule (see the module docstring), computed once at parse.
    playable_by_char: frozenset[str] = frozenset()
    playable_by_sound: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> IdiomBook:
        """Read the TSV format described in the module docstring; raises ``ValueError``."""
        pinyin: dict[str, tuple[str, ...]] = {}
        by_char: dict[str, list[str]] = {}
        by_sound: dict[str, list[str]] = {}
        lines = text.splitlines()
        if not lines or lines[0].split("\t") != ["idiom", "pinyin"]:
            raise ValueError("the idiom list must start with the header 'idiom<TAB>pinyin'")
        for number, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            idiom, _, reading = line.partition("\t")
            syllables = tuple(reading.split())
            if not is_idiom_shaped(idiom) or len(syllables) != len(idiom):
                raise ValueError(
                    f"line {number} of the idiom list is {line!r}; expected four Chinese "
                    "characters, a tab, and one pinyin syllable per character"
                )
            if idiom in pinyin:
                continue  # a duplicate line changes nothing
            pinyin[idiom] = syllables
            by_char.setdefault(idiom[0], []).append(idiom)
            by_sound.setdefault(syllables[0], []).append(idiom)
        chars = {k: tuple(v) for k, v in by_char.items()}
        sounds = {k: tuple(v) for k, v in by_sound.items()}
        return cls(
            pinyin=pinyin,
            by_char=chars,
            by_sound=sounds,
            playable_by_char=_playable(pinyin, chars, None),
            playable_by_sound=_playable(pinyin, chars, sounds),
        )

    def playable(self, *, by_sound: bool = False) -> frozenset[str]:
        """The idioms that some playable idiom may follow under the rule (module docstring)."""
        return self.playable_by_sound if by_sound else self.playable_by_char

    def __contains__(self, word: object) -> bool:
        return word in self.pinyin

    def __len__(self) -> int:
        return len(self.pinyin)

    def link(self, previous: str, *, by_sound: bool = False) -> str:
        """What the next idiom must start with, for messages: ``意`` or ``意 (yi)``."""
        if by_sound:
            return f"{previous[-1]} ({self.pinyin[previous][-1]})"
        return previous[-1]

    def follows(self, previous: str, word: str, *, by_sound: bool = False) -> bool:
        """True if ``word`` may come after ``previous``: same first character as its last one,
        or, with ``by_sound``, the same toneless syllable. Both must be known idioms."""
        if previous not in self.pinyin or word not in self.pinyin:
            return False
        if word[0] == previous[-1]:
            return True
        return by_sound and self.pinyin[word][0] == self.pinyin[previous][-1]

    def next_moves(
        self, previous: str, *, by_sound: bool = False, used: Collection[str] = ()
    ) -> list[str]:
        """Every unused playable idiom that may follow ``previous``, in list order."""
        found = list(self.by_char.get(previous[-1], ()))
        if by_sound:
            seen = set(found)
            found.extend(
                w for w in self.by_sound.get(self.pinyin[previous][-1], ()) if w not in seen
            )
        playable = self.playable(by_sound=by_sound)
        return [w for w in found if w in playable and w not in used]


def _playable(
    pinyin: Mapping[str, tuple[str, ...]],
    by_char: Mapping[str, tuple[str, ...]],
    by_sound: Mapping[str, tuple[str, ...]] | None,
) -> frozenset[str]:
    """The largest set of idioms in which each can go on two moves without a repeat.

    An idiom stays when some other idiom of the set follows it, which is followed in turn by
    a third one of the set. A chain can never repeat an idiom, so an idiom that only leads
    back to itself (为所欲为) or into a pair that follows each other and nothing else is a
    dead end too, a move later. Passes repeat until nothing more drops out; the list is
    small, so this costs a few milliseconds once per process.
    """
    followers: dict[str, set[str]] = {}
    for word, syllables in pinyin.items():
        nexts = set(by_char.get(word[-1], ()))
        if by_sound is not None:
            nexts.update(by_sound.get(syllables[-1], ()))
        nexts.discard(word)
        followers[word] = nexts
    live = set(pinyin)
    changed = True
    while changed:
        changed = False
        for word in list(live):
            nexts = followers[word] & live
            if not any((followers[nxt] & live) - {word} for nxt in nexts):
                live.discard(word)
                changed = True
    return frozenset(live)


@functools.cache
def load_book(path: Path = DATA) -> IdiomBook:
    """The idioms of ``path`` (default: the bundled list); read once, then cached."""
    return IdiomBook.parse(path.read_text(encoding="utf-8"))
