"""example_plugins.guess_number: a per-player session with keep(reset_timeout=True) and 7 tries.

``Fixed`` always thinks of 42, so the hints are known.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from example_plugins.guess_number import GuessNumber
from tests.kit import Fallback, texts
from waiter_sdk.testing import Simulator

INTRO = "I'm thinking of a number from 1 to 100. You have 7 tries and 30 s per guess. Your guess?"


class Fixed(GuessNumber):
    def secret(self) -> int:
        return 42


async def test_hints_lead_to_the_number() -> None:
    async with Simulator(plugins=[Fixed, Fallback]) as sim:
        alice = sim.user("alice")
        assert texts(await sim.send(alice, "/guess-number")) == [INTRO]
        assert texts(await sim.send(alice, "50")) == ["50 is too high. 6 tries left."]
        assert texts(await sim.send(alice, "25")) == ["25 is too low. 5 tries left."]
        assert texts(await sim.send(alice, " 42 ")) == ["🎉 42 is right! You got it in 3 tries."]
        assert len(sim.app.sessions) == 0
        assert texts(await sim.send(alice, "43")) == ["plugin saw 43"]


async def test_the_seventh_wrong_guess_loses() -> None:
    async with Simulator(plugins=[Fixed, Fallback]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/猜数字")
        for n, guess in enumerate(["1", "2", "3", "4", "5"], start=1):
            assert texts(await sim.send(alice, guess)) == [
                f"{guess} is too low. {7 - n} tries left."
            ]
        assert texts(await sim.send(alice, "99")) == ["99 is too high. 1 try left."]
        assert texts(await sim.send(alice, "98")) == [
            "✗ 98 is too high, and that was your last try. The number was 42."
        ]
        assert texts(await sim.send(alice, "42")) == ["plugin saw 42"]


async def test_a_first_try_win_says_try() -> None:
    async with Simulator(plugins=[Fixed]) as sim:
        await sim.send(sim.user("alice"), "/guess")
        assert texts(await sim.send(sim.user("alice"), "42")) == [
            "🎉 42 is right! You got it in 1 try."
        ]


async def test_each_guess_resets_the_deadline_and_silence_times_out() -> None:
    async with Simulator(plugins=[Fixed, Fallback]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/guess")
        # Five guesses 29 s apart: 145 s in all, far past the first 30 s deadline.
        for guess in ("10", "20", "30", "35", "40"):
            await sim.advance(29)
            assert texts(await sim.send(alice, guess))[0].startswith(f"{guess} is too low.")
        assert await sim.advance(29.9) == []
        out = await sim.advance(0.1)
        assert texts(out) == ["⏰ Time's up! The number was 42."]
        assert out[0].user_id == "alice"
        assert texts(await sim.send(alice, "42")) == ["plugin saw 42"]


async def test_messages_that_are_not_guesses_cost_no_try_and_no_time() -> None:
    async with Simulator(plugins=[Fixed]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/guess")
        assert texts(await sim.send(alice, "fifty")) == [
            "Send a whole number from 1 to 100, or q to give up."
        ]
        assert texts(await sim.send(alice, "101")) == ["101 is out of range: 1 to 100."]
        assert texts(await sim.send(alice, "50")) == ["50 is too high. 6 tries left."]
        await sim.advance(20)
        await sim.send(alice, "hmm")
        # "hmm" did not reset the deadline: 30 s after the guess "50".
        assert texts(await sim.advance(10)) == ["⏰ Time's up! The number was 42."]


async def test_q_gives_up() -> None:
    async with Simulator(plugins=[Fixed]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/guess")
        assert texts(await sim.send(alice, "Q")) == ["You gave up. The number was 42."]
        assert len(sim.app.sessions) == 0


async def test_each_player_has_their_own_game_in_a_group() -> None:
    class Counting(GuessNumber):
        """Thinks of 10 for the first game, 90 for the second."""

        numbers: ClassVar[list[int]] = [10, 90]

        def secret(self) -> int:
            return self.numbers.pop(0)

    async with Simulator(plugins=[Counting]) as sim:
        alice, bob = sim.user("alice"), sim.user("bob")
        await sim.send(alice, "/guess", group="g1")
        await sim.send(bob, "/guess", group="g1")
        assert texts(await sim.send(alice, "50", group="g1")) == ["50 is too high. 6 tries left."]
        assert texts(await sim.send(bob, "50", group="g1")) == ["50 is too low. 6 tries left."]
        assert texts(await sim.send(bob, "90", group="g1")) == [
            "🎉 90 is right! You got it in 2 tries."
        ]
        # Alice's game goes on, with her own count of tries.
        assert texts(await sim.send(alice, "20", group="g1")) == ["20 is too high. 5 tries left."]
        assert len(sim.app.sessions) == 1


async def test_the_limits_are_class_attributes() -> None:
    class Small(Fixed):
        high = 50
        max_tries = 2
        guess_timeout = 5.0

    async with Simulator(plugins=[Small]) as sim:
        alice = sim.user("alice")
        assert texts(await sim.send(alice, "/guess")) == [
            "I'm thinking of a number from 1 to 50. You have 2 tries and 5 s per guess. Your guess?"
        ]
        assert texts(await sim.send(alice, "60")) == ["60 is out of range: 1 to 50."]
        assert texts(await sim.send(alice, "1")) == ["1 is too low. 1 try left."]
        assert texts(await sim.advance(5)) == ["⏰ Time's up! The number was 42."]


# --- each player's record (/guess-best, /best) --------------------------------------------------


async def win_in(sim: Simulator, user: str, guesses: list[str], group: str | None = None) -> str:
    """Play one game of ``Fixed`` (42) with ``guesses``, the last one 42; the win message."""
    player = sim.user(user)
    await sim.send(player, "/guess", group=group)
    for guess in guesses[:-1]:
        await sim.send(player, guess, group=group)
    [win] = texts(await sim.send(player, guesses[-1], group=group))
    return win


async def test_best_before_playing_says_how_to_start() -> None:
    async with Simulator(plugins=[Fixed]) as sim:
        for command in ("/guess-best", "/best"):
            assert texts(await sim.send(sim.user("alice", "Alice"), command)) == [
                "Alice, you have not played yet: /guess starts a game."
            ]


async def test_a_game_counts_as_played_from_its_start_and_a_loss_sets_no_best() -> None:
    async with Simulator(plugins=[Fixed]) as sim:
        alice = sim.user("alice", "Alice")
        await sim.send(alice, "/guess")
        # Counted (and written) when it starts: the game is still on.
        assert texts(await sim.send(alice, "/best", group="g1")) == [
            "Alice: 1 game played, no win yet. Keep guessing!"
        ]
        assert len(sim.app.sessions) == 1
        await sim.send(alice, "q")
        await sim.send(alice, "/guess")
        await sim.advance(30)
        assert texts(await sim.send(alice, "/best")) == [
            "Alice: 2 games played, no win yet. Keep guessing!"
        ]


async def test_the_best_is_the_fewest_tries_and_beating_it_is_announced() -> None:
    async with Simulator(plugins=[Fixed]) as sim:
        # The first win sets the best quietly: there was nothing to beat.
        assert await win_in(sim, "alice", ["50", "25", "30", "42"]) == (
            "🎉 42 is right! You got it in 4 tries."
        )
        assert texts(await sim.send(sim.user("alice"), "/guess-best")) == [
            "🏆 alice: best 4 tries; 1 of 1 game won."
        ]
        assert await win_in(sim, "alice", ["50", "42"]) == (
            "🎉 42 is right! You got it in 2 tries. 🏆 A new best, down from 4 tries!"
        )
        # Equal or worse: no fanfare, and the best stays.
        assert await win_in(sim, "alice", ["10", "42"]) == "🎉 42 is right! You got it in 2 tries."
        assert await win_in(sim, "alice", ["1", "2", "42"]) == (
            "🎉 42 is right! You got it in 3 tries."
        )
        alice = sim.user("alice")
        await sim.send(alice, "/guess")
        await sim.send(alice, "q")
        assert texts(await sim.send(alice, "/best")) == [
            "🏆 alice: best 2 tries; 4 of 5 games won."
        ]
        assert await win_in(sim, "alice", ["42"]) == (
            "🎉 42 is right! You got it in 1 try. 🏆 A new best, down from 2 tries!"
        )


async def test_each_player_has_their_own_record_whatever_the_chat() -> None:
    async with Simulator(plugins=[Fixed]) as sim:
        await win_in(sim, "alice", ["50", "42"], group="g1")
        await win_in(sim, "bob", ["42"], group="g1")
        # A user's record follows them into private chats and other groups.
        assert texts(await sim.send(sim.user("alice"), "/best")) == [
            "🏆 alice: best 2 tries; 1 of 1 game won."
        ]
        assert texts(await sim.send(sim.user("bob"), "/best", group="g2")) == [
            "🏆 bob: best 1 try; 1 of 1 game won."
        ]
        assert texts(await sim.send(sim.user("carol"), "/best", group="g1")) == [
            "carol, you have not played yet: /guess starts a game."
        ]


async def test_help_lists_guess_best() -> None:
    async with Simulator(plugins=[Fixed]) as sim:
        [text] = texts(await sim.send(sim.user("alice"), "/help guess_number"))
        assert (
            "  /guess-best (best) - Your best game (fewest tries) and how many you played and won."
            in text
        )


async def test_the_record_survives_a_restart(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/w.db"
    async with Simulator(plugins=[Fixed], storage=database) as sim:
        await win_in(sim, "alice", ["50", "25", "42"])
        await sim.send(sim.user("alice"), "/guess")  # still running when the bot stops
    async with Simulator(plugins=[Fixed], storage=database) as sim:
        assert texts(await sim.send(sim.user("alice"), "/best")) == [
            "🏆 alice: best 3 tries; 1 of 2 games won."
        ]
        assert await win_in(sim, "alice", ["50", "42"]) == (
            "🎉 42 is right! You got it in 2 tries. 🏆 A new best, down from 3 tries!"
        )


async def test_without_storage_the_game_is_played_and_best_says_it_is_unavailable(
    tmp_path: Path,
) -> None:
    (tmp_path / "blocker").write_text("a file where the database's folder should be")
    async with Simulator(plugins=[Fixed], storage=f"sqlite:///{tmp_path}/blocker/w.db") as sim:
        assert await win_in(sim, "alice", ["50", "42"]) == "🎉 42 is right! You got it in 2 tries."
        assert texts(await sim.send(sim.user("alice"), "/best")) == [
            "Records are unavailable right now; try again later."
        ]
