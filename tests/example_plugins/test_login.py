"""example_plugins.login: started anywhere, continued only in private, the password never shown.

Demo accounts: alice / wonderland, bob / builder. Every test ends by checking that no message the
bot sent contains a password that was typed.
"""

from __future__ import annotations

from example_plugins.login import Login
from tests.kit import Fallback, texts
from waiter_sdk.testing import Outgoing, Simulator

ASK_USER = "Login: your username? (cancel to stop)"
WRONG = "✗ Wrong username or password. {} left. Password?"
TIMED_OUT = "⏰ Login timed out. Send /login to start again."


def sent(out: list[Outgoing]) -> list[tuple[str, str]]:
    """Where each message went ("g1" or "@alice") and its text."""
    return [(o.group_id if o.group_id else f"@{o.user_id}", o.text) for o in out]


def assert_never_sent(sim: Simulator, *secrets: str) -> None:
    for message in sim.outbox:
        for secret in secrets:
            assert secret not in message.text, f"{secret!r} was sent: {message.text!r}"


async def test_seed_login_started_in_a_group_continues_in_private() -> None:
    async with Simulator(plugins=[Login, Fallback]) as sim:
        alice = sim.user("alice", "Alice")
        assert sent(await sim.send(alice, "/login", group="g1")) == [
            ("g1", "Alice, I've sent you a private message to log in."),
            ("@alice", ASK_USER),
        ]
        # Group messages, even Alice's own, are not part of the login.
        assert sent(await sim.send(alice, "alice", group="g1")) == [("g1", "plugin saw alice")]
        assert sent(await sim.send(alice, "alice")) == [("@alice", "Password?")]
        assert sent(await sim.send(alice, "wonderland")) == [
            ("@alice", "✓ Welcome, alice! You are logged in.")
        ]
        assert len(sim.app.sessions) == 0
        assert texts(await sim.send(alice, "hi")) == ["plugin saw hi"]
        assert_never_sent(sim, "wonderland")


async def test_seed_login_started_in_private() -> None:
    async with Simulator(plugins=[Login, Fallback]) as sim:
        bob = sim.user("bob", "Bob")
        assert sent(await sim.send(bob, "/login")) == [("@bob", ASK_USER)]
        assert sent(await sim.send(bob, "bob")) == [("@bob", "Password?")]
        assert sent(await sim.send(bob, "builder")) == [
            ("@bob", "✓ Welcome, bob! You are logged in.")
        ]
        assert_never_sent(sim, "builder")


async def test_group_messages_during_a_login_are_not_captured() -> None:
    async with Simulator(plugins=[Login, Fallback]) as sim:
        alice, bob = sim.user("alice", "Alice"), sim.user("bob", "Bob")
        await sim.send(alice, "/login", group="g1")
        await sim.send(alice, "alice")
        # A password typed in the group by mistake is not taken as one.
        assert sent(await sim.send(alice, "wonderland", group="g1")) == [
            ("g1", "plugin saw wonderland")
        ]
        assert sent(await sim.send(bob, "builder", group="g1")) == [("g1", "plugin saw builder")]
        # Another user's private chat is not Alice's login either.
        assert sent(await sim.send(bob, "hello")) == [("@bob", "plugin saw hello")]
        assert sent(await sim.send(alice, "wonderland")) == [
            ("@alice", "✓ Welcome, alice! You are logged in.")
        ]


async def test_wrong_passwords_fail_without_saying_which_part_was_wrong() -> None:
    async with Simulator(plugins=[Login]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/login")
        await sim.send(alice, "alice")
        assert texts(await sim.send(alice, "guess1")) == [WRONG.format(2)]
        assert texts(await sim.send(alice, "guess2")) == [WRONG.format(1)]
        assert texts(await sim.send(alice, "guess3")) == [
            "✗ Wrong username or password, too many times. Login failed."
        ]
        assert len(sim.app.sessions) == 0
        assert_never_sent(sim, "guess1", "guess2", "guess3")


async def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password() -> None:
    async with Simulator(plugins=[Login]) as sim:
        mallory = sim.user("mallory")
        await sim.send(mallory, "/login")
        # The password is asked even for an unknown name: no probing for account names.
        assert texts(await sim.send(mallory, "root")) == ["Password?"]
        assert texts(await sim.send(mallory, "wonderland")) == [WRONG.format(2)]
        assert_never_sent(sim, "wonderland")


async def test_the_login_times_out_with_a_message_in_private() -> None:
    async with Simulator(plugins=[Login, Fallback]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/login", group="g1")
        await sim.advance(30)
        await sim.send(alice, "alice")
        # Each question has its own 60 s.
        assert await sim.advance(59.9) == []
        assert sent(await sim.advance(0.1)) == [("@alice", TIMED_OUT)]
        assert len(sim.app.sessions) == 0
        assert texts(await sim.send(alice, "wonderland")) == ["plugin saw wonderland"]


async def test_cancel_ends_the_login() -> None:
    async with Simulator(plugins=[Login]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/login")
        assert texts(await sim.send(alice, "取消")) == ["Login cancelled."]
        assert len(sim.app.sessions) == 0


async def test_a_second_login_is_refused_or_asked_again() -> None:
    async with Simulator(plugins=[Login]) as sim:
        alice = sim.user("alice", "Alice")
        await sim.send(alice, "/login", group="g1")
        assert sent(await sim.send(alice, "/login", group="g2")) == [
            ("g2", "Alice, you are already logging in: answer me in private.")
        ]
        # In private, "/login" reaches the open session, which does not take it as a username.
        assert texts(await sim.send(alice, "/login")) == [
            f"You are logging in; commands wait until you finish. {ASK_USER}"
        ]
        assert texts(await sim.send(alice, "alice")) == ["Password?"]
        assert len(sim.app.sessions) == 1


async def test_the_history_shows_the_conversation_with_the_password_redacted() -> None:
    async with Simulator(plugins=[Login]) as sim:
        alice = sim.user("alice")
        assert texts(await sim.send(alice, "/login-history")) == [
            "You have not tried to log in yet."
        ]
        await sim.send(alice, "/login", group="g1")
        await sim.send(alice, "alice")
        await sim.send(alice, "not-it")
        await sim.send(alice, "wonderland")
        assert texts(await sim.send(alice, "/login-history")) == [
            "Your last login:\n"
            f"bot: {ASK_USER}\n"
            "you: alice\n"
            "bot: Password?\n"
            "you: ******\n"
            f"bot: {WRONG.format(2)}\n"
            "you: ******\n"
            "result: logged in"
        ]
        plugin = sim.app.plugins["login"]
        assert isinstance(plugin, Login)
        kept = "\n".join(plugin.transcripts["alice"])
        assert "not-it" not in kept and "wonderland" not in kept
        assert plugin.logged_in == {"alice": "alice"}
        assert_never_sent(sim, "not-it", "wonderland")
