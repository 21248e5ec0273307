"""login: started anywhere, continued in private; the password is never echoed nor kept.

Usage::

    /login              in a group: "Alice, I've sent you a private message to log in."
    (private) alice     → "Password?"
    (private) ********  → "✓ Welcome, alice! You are logged in."
    /login-history      your last login conversation, password redacted

Demo accounts: ``alice`` / ``wonderland`` and ``bob`` / ``builder``.

It is the botoy style with ``start_session(event, friend=True)``. Per botoy's scope table,
``friend=True`` from a group message takes **only the sender's private messages** and sends the
session's messages to the private chat, and from a private message it takes that chat. So:

* Nobody's group messages reach the session, not even the user's own: a password typed in the
  group by mistake is not taken as one (it is public by then anyway). Group chat and other
  commands go on as usual while someone logs in.
* Each question is ``must_text(prompt)`` with ``step_timeout`` seconds; on timeout the finish
  info ("Login timed out ...") is sent and the session ends.
* A second ``/login`` while one is open: in a group the plugin answers "already logging in"
  (``start_session`` raises ``SessionBusyError``); in the private chat the message belongs to
  the open session, which asks the question again instead of taking ``/login`` as an answer.

Secrets:

* The password is never sent back, not even masked; failures say "wrong username or password"
  without telling which (no account probing); passwords are compared as salted PBKDF2 hashes
  with ``hmac.compare_digest``.
* No ``record_history_chains``: it snapshots every delivered message verbatim, the password
  included. The plugin keeps its own transcript instead and writes ``******`` where the password
  was; that is what ``/login-history`` shows.

``step_timeout`` and ``max_attempts`` are class attributes; ``accounts`` maps usernames to
``(salt, hash)`` pairs made by ``password_hash``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from typing import ClassVar

from waiter_sdk import (
    MessageEvent,
    Plugin,
    SessionBusyError,
    SessionClosedError,
    command,
    start_session,
)
from waiter_sdk.session.botoy import BotoySession

__all__ = ["Login", "password_hash"]

CANCEL_WORDS = frozenset({"cancel", "取消", "退出"})
REDACTED = "******"
# Why a session was closed from outside, in words for the player.
CLOSED_BECAUSE = {"shutdown": "the bot is stopping", "reloaded": "the plugin was reloaded"}


def password_hash(password: str, salt: bytes | None = None) -> tuple[bytes, bytes]:
    """``(salt, hash)`` of ``password``. Usage: ``accounts = {"alice": password_hash("pw")}``."""
    salt = os.urandom(16) if salt is None else salt
    # 20k rounds keeps the demo snappy; a real bot asks its account service instead.
    return salt, hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 20_000)


def _verify(accounts: Mapping[str, tuple[bytes, bytes]], username: str, password: str) -> bool:
    salt, expected = accounts.get(username, (b"unknown user", b""))
    # Hash even for an unknown user, so the answer takes as long either way.
    _, actual = password_hash(password, salt)
    return hmac.compare_digest(actual, expected) and username in accounts


class _Cancelled(Exception):
    """The user sent a cancel word."""


class Login(Plugin):
    """Asks for a username and a password in the private chat."""

    name = "login"
    description = "Log in with a username and a password, asked in a private chat"

    step_timeout: ClassVar[float] = 60.0
    """Seconds to answer each question before the login times out."""
    max_attempts: ClassVar[int] = 3
    """Passwords tried before the login fails."""
    accounts: ClassVar[dict[str, tuple[bytes, bytes]]] = {
        "alice": password_hash("wonderland"),
        "bob": password_hash("builder"),
    }

    def __init__(self) -> None:
        # user id -> logged-in username, and user id -> their last login transcript (redacted).
        self.logged_in: dict[str, str] = {}
        self.transcripts: dict[str, list[str]] = {}

    @command("login")
    async def login(self, event: MessageEvent) -> None:
        """Log in; the username and password are asked in a private chat."""
        user = event.sender_name or event.sender_id
        try:
            ss = start_session(event, friend=True)
        except SessionBusyError:
            await event.send(f"{user}, you are already logging in: answer me in private.")
            return
        ss.set_default_timeout(self.step_timeout)
        ss.set_finish_info("⏰ Login timed out. Send /login to start again.")
        transcript: list[str] = []
        self.transcripts[event.sender_id] = transcript
        if not event.is_private:
            await event.send(f"{user}, I've sent you a private message to log in.")
        try:
            username = await self._ask(ss, transcript, "Login: your username? (cancel to stop)")
            question = "Password?"
            for attempt in range(1, self.max_attempts + 1):
                password = await self._ask(ss, transcript, question, secret=True)
                if _verify(self.accounts, username, password):
                    self.logged_in[event.sender_id] = username
                    transcript.append("result: logged in")
                    ss.finish(f"✓ Welcome, {username}! You are logged in.")
                left = self.max_attempts - attempt
                question = f"✗ Wrong username or password. {left} left. Password?"
            transcript.append("result: failed")
            ss.finish("✗ Wrong username or password, too many times. Login failed.")
        except _Cancelled:
            transcript.append("result: cancelled")
            ss.finish("Login cancelled.")
        except SessionClosedError as closed:
            # Ended from outside (an exit word, the sandbox's Close, the bot stopping).
            why = CLOSED_BECAUSE.get(closed.reason or "", "it was closed")
            transcript.append(f"result: closed ({closed.reason})")
            await ss.send(f"Login stopped: {why}. Send /login to start again.")

    @command("login-history")
    async def history(self, event: MessageEvent) -> None:
        """Show your last login conversation, with the password redacted."""
        transcript = self.transcripts.get(event.sender_id)
        if not transcript:
            await event.send("You have not tried to log in yet.")
            return
        await event.send("Your last login:\n" + "\n".join(transcript))

    async def _ask(
        self, ss: BotoySession, transcript: list[str], question: str, *, secret: bool = False
    ) -> str:
        """Ask until the answer is not a command; raise ``_Cancelled`` on a cancel word.

        A secret answer is taken as it is (a password may start with "/"), and only
        ``REDACTED`` goes into the transcript.
        """
        prompt = question
        while True:
            transcript.append(f"bot: {prompt}")
            text, _ = await ss.must_text(prompt)
            answer = text.strip()
            # Recorded before anything else looks at the answer, so no path can keep it raw.
            transcript.append(f"you: {REDACTED if secret else answer}")
            if answer.casefold() in CANCEL_WORDS:
                raise _Cancelled
            if secret or not answer.startswith("/"):
                return text if secret else answer
            # "/login" again in the private chat reaches this session, not the command.
            prompt = f"You are logging in; commands wait until you finish. {question}"
