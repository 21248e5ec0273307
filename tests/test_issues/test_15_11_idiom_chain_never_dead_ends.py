"""Issue 15.11: the idiom chain dead-ended. 133 of its 602 idioms had no follower, and in a
six-move game the bot's own hint led to "Nothing in my list follows X" twice.

The book grew (real idioms, written for this project), and the game now moves only through
*playable* idioms: each has a playable follower. These tests walk everything a player or the
bot can reach, under both rules (by character, and by character or sound).
"""

from __future__ import annotations

import random

import pytest

from example_plugins.idiom_chain import IdiomChain
from example_plugins.idiom_chain.book import IdiomBook, is_idiom_shaped, load_book
from example_plugins.idiom_chain.game import ChainGame, pick_start
from tests.kit import texts
from waiter_sdk.testing import Simulator


def reachable(book: IdiomBook, *, by_sound: bool) -> set[str]:
    """Every idiom a game can be at: a start the game accepts, then any accepted move."""
    starts = [w for w in book.pinyin if book.next_moves(w, by_sound=by_sound, used={w})]
    seen = set(starts)
    todo = list(starts)
    while todo:
        word = todo.pop()
        for nxt in book.pinyin:  # what ChainGame.refusal accepts, not what next_moves offers
            game = ChainGame(book, word, by_sound)
            if nxt not in seen and game.refusal(nxt) is None:
                seen.add(nxt)
                todo.append(nxt)
    return seen


@pytest.mark.parametrize("by_sound", [False, True], ids=["by character", "by sound"])
def test_every_reachable_idiom_has_a_follower(by_sound: bool) -> None:
    book = load_book()
    reached = reachable(book, by_sound=by_sound)
    stuck = sorted(w for w in reached if not book.next_moves(w, by_sound=by_sound, used={w}))
    assert stuck == []
    # Most of the book is in play, not a handful of idioms.
    assert len(reached) >= 0.8 * len(book)


def test_the_book_grew_and_every_entry_is_well_formed() -> None:
    book = load_book()
    assert len(book) >= 700
    assert all(is_idiom_shaped(w) and len(book.pinyin[w]) == 4 for w in book.pinyin)


def test_pick_start_only_offers_playable_idioms() -> None:
    book = load_book()
    rng = random.Random(15)
    for by_sound in (False, True):
        for _ in range(200):
            first = pick_start(book, rng, by_sound=by_sound)
            assert first is not None
            assert first in book.playable(by_sound=by_sound)


async def test_an_answer_that_would_end_the_chain_is_refused_with_the_reason() -> None:
    book = load_book()
    assert book.follows("深入浅出", "出类拔萃")  # a real follower, but 萃 starts nothing
    assert "出类拔萃" not in book.playable()
    async with Simulator(plugins=[IdiomChain]) as sim:
        alice = sim.user("a", "Alice")
        await sim.send(alice, "/idiom-chain 深入浅出", group="g1")
        assert texts(await sim.send(alice, "出类拔萃", group="g1")) == [
            "✗ 出类拔萃 would end the chain: nothing in my list follows it."
        ]
        assert texts(await sim.send(alice, "出人头地", group="g1")) == [
            "✓ Alice +1 (1 in all). Next starts with 地."
        ]


@pytest.mark.parametrize("by_sound", [False, True], ids=["by character", "by sound"])
def test_games_of_bot_moves_do_not_run_into_a_dead_end(by_sound: bool) -> None:
    # The game: the bot's own hints led to "Nothing in my list follows X" twice in six
    # moves. In 300 seeded games of twelve bot moves from a random start, the list always has
    # a follower; a game can only run out of *unused* ones, and that stays rare.
    book = load_book()
    exhausted = 0
    for seed in range(300):
        rng = random.Random(seed)
        first = pick_start(book, rng, by_sound=by_sound)
        assert first is not None
        game = ChainGame(book, first, by_sound)
        for _ in range(12):
            if not game.moves():
                assert game.exhausted(), f"seed {seed}: nothing in the list follows {game.current}"
                exhausted += 1
                break
            game.bot_move(rng)
    assert exhausted <= 3


async def test_a_used_up_chain_says_so_and_starts_afresh() -> None:
    # Not "Nothing in my list follows X" (untrue: the list has followers, all used up).
    book = IdiomBook.parse(
        "idiom\tpinyin\n"
        + "".join(
            f"{w}\t{p}\n"
            for w, p in [
                ("一心一意", "yi xin yi yi"),
                ("意在言外", "yi zai yan wai"),
                ("外强中干", "wai qiang zhong gan"),
                ("干净利落", "gan jing li luo"),
                ("落落大方", "luo luo da fang"),
                ("方寸之地", "fang cun zhi di"),
                ("地大物博", "di da wu bo"),
                ("博大精深", "bo da jing shen"),
                ("深入浅出", "shen ru qian chu"),
                ("出人头地", "chu ren tou di"),
            ]
        )
    )
    game = ChainGame(book, "方寸之地")
    for word in ("地大物博", "博大精深", "深入浅出"):
        assert game.refusal(word) is None
        game.play(word, "a", "Alice")
    # 出人头地 would lead back to 地, whose only follower was used: refused with the reason.
    assert game.refusal("出人头地") == (
        "出人头地 would end the chain: every idiom that follows it was used"
    )
    assert game.moves() == []
    assert game.exhausted()
