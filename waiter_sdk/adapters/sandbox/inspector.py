"""``Inspector``: the open sessions as the page shows them, and the recently ended ones.

Usage (the adapter wires it to the app's listeners)::

    inspector = Inspector(app, where=adapter.where_of, push=hub.broadcast)
    app.listen("session_opened", inspector.opened)
    app.listen("session_ended", inspector.ended)
    tasks.spawn(inspector.watch())

Deadlines are loop times, which mean nothing in a browser: rows carry ``remaining`` seconds and
the server's ``now``, and the page counts down by itself between pushes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...events import MessageEvent

if TYPE_CHECKING:
    from ...app import App
    from ...session.controller import SessionController

__all__ = ["ENDED_SHOWN", "SESSION_POLL", "Inspector"]

ENDED_SHOWN = 6.0  # seconds an ended session stays visible with its reason
SESSION_POLL = 0.5  # how often open sessions are re-read for a moved deadline
Row = dict[str, Any]


class Inspector:
    """Rows for the session inspector, pushed when something a page shows changes."""

    def __init__(
        self,
        app: App,
        where: Callable[[MessageEvent], tuple[str | None, str]],
        push: Callable[[Row], None],
    ) -> None:
        self._app = app
        self._loop = asyncio.get_running_loop()
        self._where = where
        self._push = push
        self._opened: dict[str, Row] = {}  # key -> where and by whom it was opened
        self._ended: deque[tuple[float, Row]] = deque(maxlen=20)
        self._dirty = asyncio.Event()

    def touch(self) -> None:
        """Something may have changed a session (a message in or out): re-read soon."""
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

    def opened(self, session: SessionController) -> Row:
        row = self._describe(session)
        self._opened[session.key] = row
        self.touch()
        return row

    def ended(self, session: SessionController) -> Row:
        row = self._opened.pop(session.key, None) or self._describe(session)
        row = {**row, "reason": session.reason, "history_length": session.history_length}
        now = self._loop.time()
        self._ended.append((now, row))
        self._push({"type": "session_ended", "now": now, "session": row})
        self.touch()
        return row

    def rows(self) -> list[Row]:
        rows = []
        for info in self._app.sessions.list():
            rows.append(
                {
                    **self._opened.get(info.key, {}),
                    "key": info.key,
                    "plugin": info.plugin or "?",
                    "filter": info.filter,
                    "opened_at": info.opened_at,
                    "deadline": info.deadline,
                    "remaining": info.remaining,
                    "queued": info.queued,
                    "history_length": info.history_length,
                    "busy": info.busy,
                }
            )
        return rows

    def recently_ended(self) -> list[Row]:
        now = self._loop.time()
        return [{**row, "age": now - at} for at, row in self._ended if now - at < ENDED_SHOWN]

    async def watch(self) -> None:
        """Push the rows whenever they change; runs until cancelled."""
        # keep() moves a deadline without telling anyone, so while a session is open the rows
        # are re-read on a short period as well as after every message in or out.
        shown: tuple[Any, ...] = ()
        while True:
            try:
                async with asyncio.timeout(SESSION_POLL if len(self._app.sessions) else None):
                    await self._dirty.wait()
            except TimeoutError:
                pass
            self._dirty.clear()
            rows = self.rows()
            signature = tuple(
                (r["key"], r["deadline"], r["queued"], r["history_length"], r["busy"]) for r in rows
            )
            if signature != shown:
                shown = signature
                self._push({"type": "sessions", "now": self._loop.time(), "sessions": rows})
