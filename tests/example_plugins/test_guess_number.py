"""example_plugins.guess_number: a per-player session with keep(reset_timeout=True) and 7 tries.

``Fixed`` always thinks of 42, so the hints are known.
"""

from __future__ import annotations

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
