"""The console adapter: chat with your bot in a terminal, as one user at a time.

Usage: ``waiter-sdk run --adapter console --plugins example_plugins``, then type. Lines starting
with ``/as NAME`` switch who is typing, ``/group ID`` moves to a group chat and ``/private``
back to the private chat; every bot reply is printed with the conversation it went to.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from time import time as unix_time
from typing import TYPE_CHECKING, TextIO

from .._tasks import TaskSet
from ..events import At, Image, MessageChain, MessageEvent, Reply, Target
from .base import Adapter
from .console_settings import ConsoleSettings

if TYPE_CHECKING:
    from ..app import App

__all__ = ["ConsoleAdapter"]

_HELP = (
    "console: type a message; /as NAME switches user, /group ID joins a group chat, "
    "/private goes back to the private chat, /quit stops."
)


class ConsoleAdapter(Adapter):
    """Reads lines from stdin (or any text stream) and prints what the bot sends."""

    platform = "console"

    def __init__(
        self,
        user_id: str | None = None,
        *,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self.self_id = "bot"
        self._user = user_id
        self._group: str | None = None
        self._stdin = stdin if stdin is not None else sys.stdin
        self._stdout = stdout if stdout is not None else sys.stdout
        self._ids = itertools.count(1)
        self._tasks = TaskSet()
        self._app: App | None = None
        self.eof_grace = 0.5

    def describe(self) -> str:
        return f"type messages as {self._user}; /as NAME, /group ID, /private, /quit"

    async def start(self, app: App) -> None:
        self._app = app
        if self._user is None:
            self._user = app.settings.section("console", ConsoleSettings).user_id
        self._print(_HELP)
        self._tasks.spawn(self._read_loop(), name="console-reader")

    async def stop(self) -> None:
        await self._tasks.aclose()
        transport = getattr(self, "_transport", None)
        if transport is not None:
            transport.close()

    def _print(self, text: str) -> None:
        self._stdout.write(text + "\n")
        self._stdout.flush()

    def _where(self) -> str:
        return f"group {self._group}" if self._group else "private"

    async def _read_loop(self) -> None:
        reader = await self._open_reader()
        while True:
            if reader is not None:
                raw = await reader.readline()
                line = raw.decode("utf-8", errors="replace")
            else:
                line = await asyncio.get_running_loop().run_in_executor(None, self._stdin.readline)
            if not line:
                # End of input (Ctrl-D, or the end of a piped script): give the replies to the
                # last lines a moment to go out before stopping.
                await asyncio.sleep(self.eof_grace)
                assert self._app is not None
                self._app.request_stop()
                return
            self.feed(line.rstrip("\r\n"))

    async def _open_reader(self) -> asyncio.StreamReader | None:
        """A non-blocking reader on stdin when it is a pipe or a terminal.

        A blocked thread read would keep the process alive after Ctrl-C; a regular file
        (``< input.txt``) cannot be watched by the selector, so that case reads in a thread,
        where end of file comes quickly anyway.
        """
        try:
            fd = self._stdin.fileno()
        except (AttributeError, OSError, ValueError):
            return None
        import os
        import stat

        mode = os.fstat(fd).st_mode
        if not (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)):
            return None
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        protocol = asyncio.StreamReaderProtocol(reader)
        transport, _ = await loop.connect_read_pipe(lambda: protocol, os.fdopen(os.dup(fd), "rb"))
        self._transport = transport
        return reader

    def feed(self, line: str) -> None:
        """Handle one typed line (also usable from tests without a real stdin)."""
        assert self._app is not None and self._user is not None
        text = line.strip()
        if not text:
            return
        if text == "/quit":
            self._app.request_stop()
            return
        if text.startswith("/as "):
            self._user = text[4:].strip() or self._user
            self._print(f"[now typing as {self._user}, {self._where()}]")
            return
        if text.startswith("/group "):
            self._group = text[7:].strip() or None
            self._print(f"[{self._user} is now in {self._where()}]")
            return
        if text == "/private":
            self._group = None
            self._print(f"[{self._user} is now in a private chat with the bot]")
            return
        event = MessageEvent(
            platform=self.platform,
            self_id=self.self_id,
            message=MessageChain([text]),
            message_id=f"in{next(self._ids)}",
            sender_id=self._user,
            sender_name=self._user,
            group_id=self._group,
            to_me=self._group is None,
            # Unix time, as on every platform: a date for the plugin, not a deadline
            # (deadlines are read on the loop clock, which tests can run virtually).
            timestamp=unix_time(),
            adapter=self,
        )
        self._app.dispatch(event)

    async def send(
        self, target: Target, chain: MessageChain, *, reply_to: str | None = None
    ) -> str:
        where = f"group {target.group_id}" if target.group_id else f"private {target.user_id}"
        parts = []
        for component in chain:
            if isinstance(component, At):
                parts.append(f"@{component.name or component.user_id}")
            elif isinstance(component, Image):
                parts.append(f"[image {component.file}]")
            elif isinstance(component, Reply):
                parts.append(f"[reply to {component.message_id}]")
            else:
                parts.append(component.text or f"[{component.type}]")
        self._print(f"bot -> {where}: {''.join(parts)}")
        return f"out{next(self._ids)}"
