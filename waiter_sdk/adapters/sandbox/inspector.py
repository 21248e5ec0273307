"""``Inspector``: the open sessions as the page shows them, and the recently ended ones.

Usage (the adapter wires it to the app's listeners)::

    inspector = Inspector(app, where=adapter.where_of, chats=adapter.chats_of, push=hub.broadcast)
    app.listen("session_opened", inspector.opened)
    app.listen("session_changed", inspector.changed)
    app.listen("session_ended", inspector.ended)
    tasks.spawn(inspector.watch())

Deadlines are loop times, which mean nothing in a browser: rows carry ``remaining`` seconds,
``span`` (how long the current wait is, for the bar) and the server's ``now``, and the page
counts down by itself between pushes. Rows are pushed when something changes them (a session
opened, its deadline moved, a message went in or out), never on a timer: a page that sits
open costs the server nothing.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...events import MessageEvent
from ...session.manager import SessionInfo

if TYPE_CHECKING:
    from ...app import App
    from ...session.controller import SessionController

__all__ = ["ENDED_SHOWN", "Inspector"]

ENDED_SHOWN = 6.0  # seconds an ended session stays visible with its reason
Row = dict[str, Any]


class Inspector:
    """Rows for the session inspector, pushed when something a page shows changes."""

    def __init__(
        self,
        app: App,
        where: Callable[[MessageEvent], tuple[str | None, str]],
        push: Callable[[Row], None],
        chats: Callable[[SessionController], list[Row]] | None = None,
    ) -> None:
        self._app = app
        self._loop = asyncio.get_running_loop()
        self._where = where
        self._chats = chats
        self._push = push
        self._opened: dict[str, Row] = {}  # key -> where and by whom it was opened
        self._since: dict[str, float] = {}  # key -> when its deadline was last set
        self._ended: deque[tuple[float, Row]] = deque(maxlen=20)
        self._dirty = asyncio.Event()

    def touch(self) -> None:
        """Something may have changed a session (a message in or out): push the rows soon."""
        self._dirty.set()

    def _describe(self, session: SessionController) -> Row:
        conv, label = self._where(session.event)
        return {
            "key": session.key,
            "plugin": session.plugin or "?",
            "filter": type(session.filter).__name__,
            "conv": conv,
            "where": label,
            "opened_by": session.event.sender_name or session.event.sender_id,
        }

    def _listens_in(self, session: SessionController, row: Row) -> list[Row]:
        chats = self._chats(session) if self._chats is not None else []
        # A key that names no chat of this sandbox (a custom filter's): where it was opened.
        return chats or [{"conv": row["conv"], "label": row["where"]}]

    def opened(self, session: SessionController) -> Row:
        row = self._describe(session)
        self._opened[session.key] = row
        self._since[session.key] = self._loop.time()
        self.touch()
        return row

    def changed(self, session: SessionController) -> None:
        """Its deadline moved (``keep``, a botoy question): the bar restarts from here."""
        self._since[session.key] = self._loop.time()
        self.touch()

    def ended(self, session: SessionController) -> Row:
        row = self._opened.pop(session.key, None) or self._describe(session)
        self._since.pop(session.key, None)
        row = {
            **row,
            "chats": self._listens_in(session, row),
            "reason": session.reason,
            "history_length": session.history_length,
        }
        now = self._loop.time()
        self._ended.append((now, row))
        self._push({"type": "session_ended", "now": now, "session": row})
        self.touch()
        return row

    def row(self, session: SessionController) -> Row:
        info = SessionInfo.of(session)
        opened = self._opened.get(info.key) or self._describe(session)
        span: float | None = None
        if info.deadline is not None:
            since = self._since.get(info.key, info.opened_at)
            span = max(0.0, info.deadline - since)
        return {
            **opened,
            "key": info.key,
            "plugin": info.plugin or "?",
            "filter": info.filter,
            "chats": self._listens_in(session, opened),
            "opened_at": info.opened_at,
            "deadline": info.deadline,
            "remaining": info.remaining,
            "span": span if span is None or math.isfinite(span) else None,
            "queued": info.queued,
            "history_length": info.history_length,
            "busy": info.busy,
        }

    def rows(self) -> list[Row]:
        return [self.row(session) for session in self._app.session_registry]

    def recently_ended(self) -> list[Row]:
        now = self._loop.time()
        return [{**row, "age": now - at} for at, row in self._ended if now - at < ENDED_SHOWN]

    async def watch(self) -> None:
        """Push the rows whenever they change; runs until cancelled."""
        # Woken by opened/changed/ended and by messages in or out (queued and history move
        # with them); several wake-ups before this task runs make one push.
        shown: tuple[Any, ...] = ()
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            rows = self.rows()
            signature = tuple(
                (
                    r["key"],
                    r["deadline"],
                    r["span"],
                    r["queued"],
                    r["history_length"],
                    r["busy"],
                    tuple(c["conv"] for c in r["chats"]),
                )
                for r in rows
            )
            if signature != shown:
                shown = signature
                self._push({"type": "sessions", "now": self._loop.time(), "sessions": rows})
