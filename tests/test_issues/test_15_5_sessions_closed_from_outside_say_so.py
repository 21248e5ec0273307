"""Issue 15 item 5: a session closed from outside tells its player, and commands get through.

Before: only idiom_chain said anything when its session was closed (the sandbox's Close, an
exit word, the bot stopping); guess_number, echo, quiz, parrot and login went silent, and
guess_number answered "/help" mid-game with "Send a whole number".
"""

from __future__ import annotations

from example_plugins.echo import Echo
from example_plugins.guess_number import GuessNumber
from example_plugins.login import Login
from example_plugins.parrot import Parrot
from example_plugins.quiz import Quiz
from tests.kit import texts
from waiter_sdk.testing import Simulator


class Fixed(GuessNumber):
    def secret(self) -> int:
        return 42


async def close_all(sim: Simulator) -> list[str]:
    before = len(sim.outbox)
    for info in sim.app.sessions.list():
        assert await sim.app.sessions.close(info.key)
    await sim.advance(0)
    return [o.text for o in sim.outbox[before:]]


async def test_guess_number_lets_commands_through_mid_game() -> None:
    async with Simulator(plugins=[Fixed]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/guess")
        out = texts(await sim.send(alice, "/help guess_number"))
        assert out and out[0].startswith("guess_number: Guess my number")
        assert texts(await sim.send(alice, "50")) == ["50 is too high. 6 tries left."]


async def test_guess_number_says_its_game_was_closed() -> None:
    async with Simulator(plugins=[Fixed]) as sim:
        await sim.send(sim.user("alice"), "/guess")
        assert await close_all(sim) == ["Your game was closed. The number was 42."]


async def test_echo_quiz_parrot_and_login_say_they_were_closed() -> None:
    async with Simulator(plugins=[Echo, Quiz, Parrot, Login]) as sim:
        alice, bob, carol, dave = (sim.user(n) for n in ("alice", "bob", "carol", "dave"))
        await sim.send(alice, "/echo")
        await sim.send(bob, "/quiz", group="g1")
        await sim.send(carol, "/parrot")
        await sim.send(dave, "/login")
        said = await close_all(sim)
        assert "Echo closed before you said anything." in said
        assert any(t.startswith("Question closed. The answer was") for t in said)
        assert "🦜 The parrot flew away: the session was closed." in said
        assert "Login stopped: it was closed. Send /login to start again." in said


async def test_the_bot_stopping_is_named_as_the_reason() -> None:
    sim = Simulator(plugins=[Fixed, Parrot])
    async with sim:
        await sim.send(sim.user("alice"), "/guess")
        await sim.send(sim.user("bob"), "/parrot")
    said = [o.text for o in sim.outbox]
    assert "Game over: the bot is stopping. The number was 42." in said
    assert "🦜 The parrot flew away: the bot is stopping." in said
