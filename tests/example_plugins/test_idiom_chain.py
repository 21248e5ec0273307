"""example_plugins.idiom_chain: the group-wide idiom chain, played through the Simulator.

All timeouts run in virtual time. Games start from a chosen idiom (``/idiom-chain 一心一意``) so
that the expected answers are known; the chain 一心一意 → 意气风发 → 发愤图强 → 强词夺理 →
理直气壮 → 壮志凌云 is in the bundled list.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from example_plugins.idiom_chain import IdiomChain, IdiomRecords, ranking_text
from example_plugins.idiom_chain.book import IdiomBook, is_idiom_shaped, load_book, normalize
from example_plugins.idiom_chain.game import ChainGame
from tests.kit import Fallback, texts
from waiter_sdk.testing import Simulator

START = "/idiom-chain 一心一意"
INTRO = (
    "成语接龙! Anyone here may answer. First idiom: 一心一意; the next starts with 意. "
    "提示 = bot move, 分数 = scores, 退出 = end. 60 s without a new idiom ends the game."
)


# --- the seed scenario of issue 3 ------------------------------------------------------------


async def test_seed_idiom_chain_members_play_and_the_timeout_after_60_s_names_the_winner() -> None:
    async with Simulator(plugins=[IdiomChain]) as sim:
        alice, bob, carol = sim.user("a", "Alice"), sim.user("b", "Bob"), sim.user("c", "Carol")
        assert texts(await sim.send(alice, START, group="g1")) == [INTRO]
        assert texts(await sim.send(bob, "意气风发", group="g1")) == [
            "✓ Bob +1 (1 in all). Next starts with 发."
        ]
        assert texts(await sim.send(carol, "发愤图强", group="g1")) == [
            "✓ Carol +1 (1 in all). Next starts with 强."
        ]
        await sim.advance(50)
        # Each right answer gives the group another 60 s from now.
        assert texts(await sim.send(bob, "强词夺理", group="g1")) == [
            "✓ Bob +1 (2 in all). Next starts with 理."
        ]
        assert await sim.advance(59.9) == []
        out = await sim.advance(0.1)
        assert texts(out) == [
            "⏰ Time's up: no new idiom for 60 s. Winner: Bob (2 points). Scores: Bob 2, Carol 1."
        ]
        assert out[0].group_id == "g1"
        assert len(sim.app.sessions) == 0


# --- refusals ---------------------------------------------------------------------------------


async def test_a_wrong_idiom_is_refused_with_a_short_reason() -> None:
    async with Simulator(plugins=[IdiomChain]) as sim:
        alice, bob = sim.user("a", "Alice"), sim.user("b", "Bob")
        await sim.send(alice, START, group="g1")
        assert texts(await sim.send(bob, "一二三四", group="g1")) == [
            "✗ 一二三四 is not an idiom I know."
        ]
        assert texts(await sim.send(bob, "马到成功", group="g1")) == [
            "✗ 马到成功 does not start with 意."
        ]
        # The chain did not move and nobody scored.
        assert texts(await sim.send(alice, "分数", group="g1")) == [
            "Nobody has scored yet. Next starts with 意."
        ]


async def test_a_repeated_idiom_is_refused() -> None:
    async with Simulator(plugins=[IdiomChain]) as sim:
        alice, bob = sim.user("a", "Alice"), sim.user("b", "Bob")
        await sim.send(alice, START, group="g1")
        await sim.send(bob, "意气风发", group="g1")
        assert texts(await sim.send(alice, "意气风发", group="g1")) == [
            "✗ 意气风发 was already used."
        ]
        # The first idiom counts as used too.
        assert texts(await sim.send(alice, "一心一意", group="g1")) == [
            "✗ 一心一意 was already used."
        ]


async def test_refused_answers_do_not_move_the_deadline() -> None:
    async with Simulator(plugins=[IdiomChain]) as sim:
        alice = sim.user("a", "Alice")
        await sim.send(alice, START, group="g1")
        await sim.advance(40)
        await sim.send(alice, "马到成功", group="g1")
        assert texts(await sim.advance(20)) == [
            "⏰ Time's up: no new idiom for 60 s. Nobody scored."
        ]


async def test_answers_with_spaces_or_punctuation_count() -> None:
    async with Simulator(plugins=[IdiomChain]) as sim:
        alice = sim.user("a", "Alice")
        await sim.send(alice, START, group="g1")
        assert texts(await sim.send(alice, " 意气风发！", group="g1")) == [
            "✓ Alice +1 (1 in all). Next starts with 发."
        ]


# --- the group and other chats ----------------------------------------------------------------


async def test_other_groups_are_unaffected_and_play_their_own_game() -> None:
    async with Simulator(plugins=[IdiomChain, Fallback]) as sim:
        alice, bob, dave = sim.user("a", "Alice"), sim.user("b", "Bob"), sim.user("d", "Dave")
        await sim.send(alice, START, group="g1")
        # No game in g2: an idiom there is ordinary chat.
        assert texts(await sim.send(dave, "意气风发", group="g2")) == ["plugin saw 意气风发"]
        await sim.advance(30)
        out = await sim.send(dave, "/idiom-chain 一心一意", group="g2")
        assert [o.group_id for o in out] == ["g2"]
        assert texts(await sim.send(dave, "意气风发", group="g2")) == [
            "✓ Dave +1 (1 in all). Next starts with 发."
        ]
        # g1's chain is still at 一心一意, so 意气风发 is not used there.
        out = await sim.send(bob, "意气风发", group="g1")
        assert texts(out) == ["✓ Bob +1 (1 in all). Next starts with 发."]
        assert out[0].group_id == "g1"
        assert len(sim.app.sessions) == 2
        # Each game keeps its own deadline: g1 60 s after Bob's answer, g2 after Dave's.
        out = await sim.advance(60)
        assert [(o.group_id, o.text) for o in out] == [
            ("g2", "⏰ Time's up: no new idiom for 60 s. Winner: Dave (1 point). Scores: Dave 1."),
            ("g1", "⏰ Time's up: no new idiom for 60 s. Winner: Bob (1 point). Scores: Bob 1."),
        ]


async def test_table_talk_and_commands_in_the_group_still_reach_the_plugins() -> None:
    async with Simulator(plugins=[IdiomChain, Fallback]) as sim:
        alice, bob = sim.user("a", "Alice"), sim.user("b", "Bob")
        await sim.send(alice, START, group="g1")
        assert texts(await sim.send(bob, "this is hard", group="g1")) == ["plugin saw this is hard"]
        # Four Chinese characters are an answer attempt, whatever they say.
        assert texts(await sim.send(bob, "好难好难", group="g1")) == [
            "✗ 好难好难 is not an idiom I know."
        ]


async def test_a_second_start_in_the_same_group_points_to_the_running_game() -> None:
    async with Simulator(plugins=[IdiomChain]) as sim:
        alice, bob = sim.user("a", "Alice"), sim.user("b", "Bob")
        await sim.send(alice, START, group="g1")
        await sim.send(bob, "意气风发", group="g1")
        assert texts(await sim.send(bob, "/接龙", group="g1")) == [
            "A game is already on here: 意气风发, the next idiom starts with 发. "
            "Send 退出 to end it."
        ]
        assert len(sim.app.sessions) == 1


async def test_a_private_chat_is_a_solo_game() -> None:
    async with Simulator(plugins=[IdiomChain, Fallback]) as sim:
        alice, bob = sim.user("a", "Alice"), sim.user("b", "Bob")
        out = await sim.send(alice, START)
        assert out[0].user_id == "a"
        assert texts(await sim.send(bob, "意气风发")) == ["plugin saw 意气风发"]
        assert texts(await sim.send(bob, "意气风发", group="g1")) == ["plugin saw 意气风发"]
        out = await sim.send(alice, "意气风发")
        assert texts(out) == ["✓ Alice +1 (1 in all). Next starts with 发."]
        assert out[0].user_id == "a"


# --- ending -------------------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["退出", "exit", "EXIT"])
async def test_any_member_may_end_the_game_and_the_scores_are_announced(word: str) -> None:
    async with Simulator(plugins=[IdiomChain, Fallback]) as sim:
        alice, bob, carol = sim.user("a", "Alice"), sim.user("b", "Bob"), sim.user("c", "Carol")
        await sim.send(alice, START, group="g1")
        await sim.send(bob, "意气风发", group="g1")
        await sim.send(alice, "发愤图强", group="g1")
        # Carol did not start the game and has not played: she may still end it.
        assert texts(await sim.send(carol, word, group="g1")) == [
            "Game over: Carol ended it. "
            "Winners: Bob and Alice (1 point each). Scores: Bob 1, Alice 1."
        ]
        assert len(sim.app.sessions) == 0
        assert texts(await sim.send(bob, "强词夺理", group="g1")) == ["plugin saw 强词夺理"]
        assert await sim.advance(120) == []


async def test_a_game_closed_from_outside_still_announces_the_scores() -> None:
    async with Simulator(plugins=[IdiomChain]) as sim:
        alice = sim.user("a", "Alice")
        await sim.send(alice, START, group="g1")
        await sim.send(alice, "意气风发", group="g1")
        [info] = sim.app.sessions.list()
        assert info.plugin == "idiom_chain"
        assert await sim.app.sessions.close(info.key)
        await sim.settle()
        assert sim.outbox[-1].text == (
            "Game over: the session was closed. Winner: Alice (1 point). Scores: Alice 1."
        )


async def test_the_idle_timeout_is_a_class_attribute() -> None:
    class QuickIdiomChain(IdiomChain):
        idle_timeout = 5.0

    async with Simulator(plugins=[QuickIdiomChain]) as sim:
        alice = sim.user("a", "Alice")
        out = await sim.send(alice, START, group="g1")
        assert texts(out)[0].endswith("5 s without a new idiom ends the game.")
        await sim.send(alice, "意气风发", group="g1")
        assert await sim.advance(4.9) == []
        assert texts(await sim.advance(0.1)) == [
            "⏰ Time's up: no new idiom for 5 s. Winner: Alice (1 point). Scores: Alice 1."
        ]


# --- the bot's moves ----------------------------------------------------------------------------


async def test_a_hint_is_a_bot_move_that_scores_for_the_bot() -> None:
    book = load_book()
    async with Simulator(plugins=[IdiomChain]) as sim:
        alice = sim.user("a", "Alice")
        await sim.send(alice, START, group="g1")
        await sim.send(alice, "意气风发", group="g1")
        [text] = texts(await sim.send(alice, "提示", group="g1"))
        match = re.fullmatch(r"🤖 Bot plays (\S{4}) \(\+1 for the bot\)\. (.*)", text)
        assert match is not None, text
        bot_word = match.group(1)
        assert book.follows("意气风发", bot_word)
        # The players go on from the bot's idiom, which cannot be played again.
        assert texts(await sim.send(alice, bot_word, group="g1")) == [
            f"✗ {bot_word} was already used."
        ]
        assert texts(await sim.send(alice, "hint", group="g1"))[0].startswith("🤖 Bot plays")
        assert texts(await sim.send(alice, "score", group="g1"))[0].startswith(
            "Leading: Bot (2 points). Scores: Bot 2, Alice 1."
        )


async def test_a_bot_move_resets_the_idle_timeout() -> None:
    async with Simulator(plugins=[IdiomChain]) as sim:
        alice = sim.user("a", "Alice")
        await sim.send(alice, START, group="g1")
        await sim.advance(50)
        await sim.send(alice, "提示", group="g1")
        assert await sim.advance(59.9) == []
        assert texts(await sim.advance(0.1)) == [
            "⏰ Time's up: no new idiom for 60 s. Winner: Bot (1 point). Scores: Bot 1."
        ]


# Two rings of idioms that follow each other: every idiom is playable, and a game runs out of
# moves only because the followers were used already.
RING = "合二为一\the er wei yi\n一日千里\tyi ri qian li\n里应外合\tli ying wai he\n"
RINGS = IdiomBook.parse(
    "idiom\tpinyin\n" + RING + "地大物博\tdi da wu bo\n博大精深\tbo da jing shen\n"
    "深入浅出\tshen ru qian chu\n出人头地\tchu ren tou di\n"
)


class RingsIdiomChain(IdiomChain):
    def __init__(self) -> None:
        super().__init__()
        self.book = RINGS


async def test_a_chain_whose_followers_are_used_starts_afresh() -> None:
    # (Issue 15.11: with every idiom of the bundled list playable, only used idioms can leave
    # a chain without a move, so this runs on a book of two rings.)
    async with Simulator(plugins=[RingsIdiomChain]) as sim:
        alice = sim.user("a", "Alice")
        await sim.send(alice, "/idiom-chain 合二为一", group="g1")
        [text] = texts(await sim.send(alice, "一日千里", group="g1"))
        match = re.fullmatch(
            r"✓ Alice \+1 \(1 in all\)\. Every idiom that could follow 一日千里 was used, "
            r"so a fresh start: (\S{4})\. Next starts with (\S)\.",
            text,
        )
        assert match is not None, text
        fresh, link = match.groups()
        assert fresh in ("地大物博", "博大精深", "深入浅出", "出人头地") and link == fresh[-1]
        follow_up = RINGS.next_moves(fresh, used={"合二为一", "一日千里", fresh})[0]
        assert texts(await sim.send(alice, follow_up, group="g1"))[0].startswith(
            "✓ Alice +1 (2 in all)."
        )


# Three idioms in a ring (issue 15.11: a book's idioms must be playable, so the old pair
# 一心一意 → 意气风发, a dead end, could no longer start a game).
TINY = IdiomBook.parse("idiom\tpinyin\n" + RING)
TINY_START = "/idiom-chain 合二为一"


class TinyIdiomChain(IdiomChain):
    """The game with a book of two idioms, so that it runs out after one move."""

    def __init__(self) -> None:
        super().__init__()
        self.book = TINY


async def test_the_game_ends_when_the_list_runs_out() -> None:
    async with Simulator(plugins=[TinyIdiomChain]) as sim:
        alice = sim.user("a", "Alice")
        await sim.send(alice, TINY_START, group="g1")
        assert texts(await sim.send(alice, "一日千里", group="g1")) == [
            "✓ Alice +1 (1 in all). Nothing follows 一日千里, and I have no idiom left!",
            "Game over: every idiom I know is used. Winner: Alice (1 point). Scores: Alice 1.",
        ]
        assert len(sim.app.sessions) == 0


# --- options ------------------------------------------------------------------------------------


async def test_the_pinyin_option_also_accepts_the_same_sound() -> None:
    book = load_book()
    assert book.pinyin["一心一意"][-1] == book.pinyin["一帆风顺"][0] == "yi"
    async with Simulator(plugins=[IdiomChain]) as sim:
        alice = sim.user("a", "Alice")
        await sim.send(alice, START, group="g1")
        assert texts(await sim.send(alice, "一帆风顺", group="g1")) == [
            "✗ 一帆风顺 does not start with 意."
        ]
        await sim.send(alice, "退出", group="g1")
        out = await sim.send(alice, "/接龙 pinyin 一心一意", group="g1")
        assert "the next starts with 意 (yi) or the same sound." in out[0].text
        assert texts(await sim.send(alice, "一帆风顺", group="g1")) == [
            "✓ Alice +1 (1 in all). Next starts with 顺 (shun)."
        ]


async def test_the_bot_proposes_a_first_idiom_that_can_be_followed() -> None:
    book = load_book()
    async with Simulator(plugins=[IdiomChain]) as sim:
        [text] = texts(await sim.send(sim.user("a", "Alice"), "/idiom-chain", group="g1"))
        match = re.search(r"First idiom: (\S{4});", text)
        assert match is not None, text
        assert book.next_moves(match.group(1), used={match.group(1)})


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        (
            "/idiom-chain please",
            "I don't understand 'please'. Usage: /idiom-chain [pinyin] "
            "[first idiom], e.g. /idiom-chain 一心一意",
        ),
        ("/idiom-chain 一二三四", "一二三四 is not an idiom I know; pick another to start."),
        ("/idiom-chain 出类拔萃", "No idiom I know follows 出类拔萃; pick another to start."),
    ],
)
async def test_bad_options_are_explained_and_open_no_game(command: str, answer: str) -> None:
    async with Simulator(plugins=[IdiomChain]) as sim:
        assert texts(await sim.send(sim.user("a"), command, group="g1")) == [answer]
        assert len(sim.app.sessions) == 0


# --- the data and the rules, without the app ------------------------------------------------


def test_the_bundled_list_has_hundreds_of_four_character_idioms() -> None:
    book = load_book()
    assert len(book) >= 300
    assert all(is_idiom_shaped(idiom) for idiom in book.pinyin)
    assert load_book() is book  # read once


def test_a_malformed_list_is_rejected_with_the_line_number() -> None:
    with pytest.raises(ValueError, match="header"):
        IdiomBook.parse("word\treading\n")
    with pytest.raises(ValueError, match="line 3"):
        IdiomBook.parse("idiom\tpinyin\n一心一意\tyi xin yi yi\n一心\tyi xin\n")


def test_answers_are_normalised_and_recognised_by_shape() -> None:
    assert normalize(" 一心一意。") == "一心一意"
    assert is_idiom_shaped("一心一意")
    assert not is_idiom_shaped("一心一")
    assert not is_idiom_shaped("abcd")


def test_ties_name_every_winner() -> None:
    game = ChainGame(load_book(), "一心一意")
    for word, player in [("意气风发", "Ann"), ("发愤图强", "Ben"), ("强词夺理", "Cid")]:
        assert game.refusal(word) is None
        game.play(word, player.lower(), player)
    assert game.summary() == (
        "Winners: Ann, Ben and Cid (1 point each). Scores: Ann 1, Ben 1, Cid 1."
    )


# --- the all-time ranking (/rank, /排行) --------------------------------------------------------


async def play_a_game(sim: Simulator, group: str | None = "g1") -> None:
    """Alice 1 and Bob 2 in a game that Carol ends with 退出."""
    alice, bob, carol = sim.user("a", "Alice"), sim.user("b", "Bob"), sim.user("c", "Carol")
    await sim.send(alice, START, group=group)
    await sim.send(bob, "意气风发", group=group)
    await sim.send(alice, "发愤图强", group=group)
    await sim.send(bob, "强词夺理", group=group)
    assert texts(await sim.send(carol, "退出", group=group)) == [
        "Game over: Carol ended it. Winner: Bob (2 points). Scores: Bob 2, Alice 1."
    ]


async def test_rank_before_any_game_says_so_in_a_friendly_line() -> None:
    async with Simulator(plugins=[IdiomChain]) as sim:
        for command in ("/rank", "/排行"):
            assert texts(await sim.send(sim.user("a", "Alice"), command, group="g1")) == [
                "No 成语接龙 scores here yet: start a game with /接龙 and take first place!"
            ]


async def test_a_finished_game_adds_its_points_to_the_group_ranking() -> None:
    async with Simulator(plugins=[IdiomChain]) as sim:
        await play_a_game(sim)
        assert texts(await sim.send(sim.user("c"), "/排行", group="g1")) == [
            "🏆 成语接龙 all-time top 2 (1 game here):\n1. Bob 2\n2. Alice 1"
        ]
        # A second game adds up; one that ends on its timeout counts too.
        alice = sim.user("a", "Alice")
        await sim.send(alice, START, group="g1")
        await sim.send(alice, "意气风发", group="g1")
        await sim.send(alice, "发愤图强", group="g1")
        await sim.advance(60)
        assert texts(await sim.send(alice, "/rank", group="g1")) == [
            "🏆 成语接龙 all-time top 2 (2 games here):\n1. Alice 3\n2. Bob 2"
        ]


async def test_a_game_nobody_scored_in_counts_as_played_only() -> None:
    async with Simulator(plugins=[IdiomChain]) as sim:
        alice = sim.user("a", "Alice")
        await sim.send(alice, START, group="g1")
        await sim.advance(60)
        assert texts(await sim.send(alice, "/rank", group="g1")) == [
            "No 成语接龙 scores here yet: start a game with /接龙 and take first place!"
        ]
        await play_a_game(sim)
        [text] = texts(await sim.send(alice, "/rank", group="g1"))
        assert text.startswith("🏆 成语接龙 all-time top 2 (2 games here):")


async def test_the_bot_ranks_for_its_hints_and_ties_share_a_place_in_name_order() -> None:
    async with Simulator(plugins=[IdiomChain]) as sim:
        bob, alice = sim.user("b", "Bob"), sim.user("a", "Alice")
        await sim.send(bob, START, group="g1")
        await sim.send(bob, "意气风发", group="g1")  # Bob scores first...
        await sim.send(alice, "发愤图强", group="g1")  # ...but Alice is listed first on a tie
        await sim.send(alice, "提示", group="g1")
        await sim.send(alice, "退出", group="g1")
        assert texts(await sim.send(alice, "/rank", group="g1")) == [
            "🏆 成语接龙 all-time top 3 (1 game here):\n1. Alice 1\n1. Bob 1\n1. Bot 1"
        ]


async def test_a_game_closed_from_outside_or_out_of_idioms_is_ranked_too() -> None:
    async with Simulator(plugins=[TinyIdiomChain]) as sim:
        alice = sim.user("a", "Alice")
        await sim.send(alice, TINY_START, group="g1")
        [info] = sim.app.sessions.list()
        assert await sim.app.sessions.close(info.key)
        await sim.settle()
        assert sim.outbox[-1].text == "Game over: the session was closed. Nobody scored."
        await sim.send(alice, TINY_START, group="g1")
        out = await sim.send(alice, "一日千里", group="g1")
        assert texts(out)[-1].startswith("Game over: every idiom I know is used.")
        assert texts(await sim.send(alice, "/rank", group="g1")) == [
            "🏆 成语接龙 all-time top 1 (2 games here):\n1. Alice 1"
        ]


async def test_each_group_and_private_chat_has_its_own_ranking() -> None:
    async with Simulator(plugins=[IdiomChain]) as sim:
        alice = sim.user("a", "Alice")
        await play_a_game(sim, group="g1")
        # A solo game in Alice's private chat.
        await sim.send(alice, START)
        await sim.send(alice, "意气风发")
        await sim.send(alice, "退出")
        empty = "No 成语接龙 scores here yet: start a game with /接龙 and take first place!"
        assert texts(await sim.send(sim.user("d", "Dave"), "/rank", group="g2")) == [empty]
        assert texts(await sim.send(sim.user("b"), "/rank")) == [empty]
        assert texts(await sim.send(alice, "/rank", group="g1")) == [
            "🏆 成语接龙 all-time top 2 (1 game here):\n1. Bob 2\n2. Alice 1"
        ]
        assert texts(await sim.send(alice, "/rank")) == [
            "🏆 成语接龙 all-time top 1 (1 game here):\n1. Alice 1"
        ]


async def test_rank_during_a_game_shows_the_earlier_games_and_leaves_the_game_alone() -> None:
    async with Simulator(plugins=[IdiomChain]) as sim:
        await play_a_game(sim)
        alice = sim.user("a", "Alice")
        await sim.send(alice, START, group="g1")
        await sim.send(alice, "意气风发", group="g1")
        assert texts(await sim.send(alice, "/排行", group="g1")) == [
            "🏆 成语接龙 all-time top 2 (1 game here):\n1. Bob 2\n2. Alice 1"
        ]
        assert texts(await sim.send(alice, "发愤图强", group="g1")) == [
            "✓ Alice +1 (2 in all). Next starts with 强."
        ]
        assert len(sim.app.sessions) == 1


async def test_a_name_change_shows_under_the_newest_name() -> None:
    async with Simulator(plugins=[IdiomChain]) as sim:
        await play_a_game(sim)
        bobby = sim.user("b", "Bobby")
        await sim.send(bobby, START, group="g1")
        await sim.send(bobby, "意气风发", group="g1")
        await sim.send(bobby, "退出", group="g1")
        assert texts(await sim.send(bobby, "/rank", group="g1")) == [
            "🏆 成语接龙 all-time top 2 (2 games here):\n1. Bobby 3\n2. Alice 1"
        ]


def test_the_ranking_shows_the_top_ten_with_shared_places() -> None:
    totals = {f"p{n:02}": points for n, points in enumerate([5, 9, 9, 1, 7, 7, 7, 2, 3, 4, 6, 8])}
    records = IdiomRecords(totals=totals, names={pid: f"P{pid[1:]}" for pid in totals}, games=12)
    assert ranking_text(records) == "\n".join(
        [
            "🏆 成语接龙 all-time top 10 (12 games here):",
            "1. P01 9",
            "1. P02 9",
            "3. P11 8",
            "4. P04 7",
            "4. P05 7",
            "4. P06 7",
            "7. P10 6",
            "8. P00 5",
            "9. P09 4",
            "10. P08 3",
        ]
    )


async def test_help_lists_rank() -> None:
    async with Simulator(plugins=[IdiomChain]) as sim:
        [text] = texts(await sim.send(sim.user("a"), "/help idiom_chain"))
        assert "  /rank (排行) - This chat's all-time top 10 of the idiom chain." in text


async def test_scores_survive_a_restart_even_of_a_game_still_running(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/w.db"
    async with Simulator(plugins=[IdiomChain], storage=database) as sim:
        await play_a_game(sim)
        alice = sim.user("a", "Alice")
        await sim.send(alice, START, group="g1")
        await sim.send(alice, "意气风发", group="g1")
    # Stopping the bot ended the running game; it said so and kept the points.
    assert sim.outbox[-1].text == (
        "Game over: the bot is stopping. Winner: Alice (1 point). Scores: Alice 1."
    )
    async with Simulator(plugins=[IdiomChain], storage=database) as sim:
        assert texts(await sim.send(sim.user("c"), "/rank", group="g1")) == [
            "🏆 成语接龙 all-time top 2 (2 games here):\n1. Alice 2\n1. Bob 2"
        ]


async def test_without_storage_games_still_end_and_rank_says_it_is_unavailable(
    tmp_path: Path,
) -> None:
    (tmp_path / "blocker").write_text("a file where the database's folder should be")
    async with Simulator(plugins=[IdiomChain], storage=f"sqlite:///{tmp_path}/blocker/w.db") as sim:
        await play_a_game(sim)
        assert texts(await sim.send(sim.user("a"), "/rank", group="g1")) == [
            "The ranking is unavailable right now; try again later."
        ]
