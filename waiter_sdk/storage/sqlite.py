"""``SqliteBackend``: one SQLite file in WAL mode, written by group commit.

Usage::

    WAITER_STORAGE=sqlite waiter-sdk run                 # <data_dir>/waiter.db
    WAITER_STORAGE=sqlite:///var/lib/bot/bot.db waiter-sdk run

The standard library's ``sqlite3``; no aiosqlite. The calls made in one loop turn run together
as one batch, in order, and every write of the batch shares one COMMIT (each inside a savepoint
of its own, so a write that fails takes back only its own changes). A caller hears back only
after the COMMIT that made its write durable.

Where a batch runs: on the loop's thread, with SQLite's busy wait off, whenever no batch is
pending in the worker thread. A WAL read or a commit without fsync takes microseconds, far less
than handing the work to another thread: aiosqlite's design (every call in a worker thread)
measured 5 to 10 times slower here, because each statement the worker runs releases the GIL and
then waits for the busy loop thread to give it back. When the database is busy (another process
holds the write lock), the batch goes to the worker thread instead, which waits for the lock up
to ``WAITER_STORAGE_TIMEOUT`` without stopping the loop; later batches follow it there until it
has caught up, so calls keep their order. Checkpoints (the fsync of WAL mode) run in the worker
too.

Durability: WAL with ``synchronous=NORMAL`` survives the process being killed at any moment
(a committed transaction is in the WAL file); only a power cut can lose the last commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from queue import SimpleQueue
from typing import Any, TypeVar

import orjson

from ..exceptions import StorageError, StoredValueError
from .backend import Backend, Bucket, Scope

__all__ = ["SqliteBackend"]

T = TypeVar("T")
_SCHEMA_VERSION = 1
_CREATE = """
CREATE TABLE IF NOT EXISTS records (
    scope TEXT NOT NULL, plugin TEXT NOT NULL, owner TEXT NOT NULL, field TEXT NOT NULL,
    value NOT NULL,
    PRIMARY KEY (scope, plugin, owner, field)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fields (
    scope TEXT NOT NULL, plugin TEXT NOT NULL, field TEXT NOT NULL, type TEXT NOT NULL,
    PRIMARY KEY (scope, plugin, field)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_UPSERT = (
    "INSERT INTO records VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (scope, plugin, owner, field) DO UPDATE SET value = excluded.value"
)
# Adds only to a stored integer (or its JSON text): anything else returns no row, and the
# caller is told, instead of a word silently becoming 0 + delta.
_INCREMENT = (
    "INSERT INTO records VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (scope, plugin, owner, field) DO UPDATE SET value = CAST(value AS INTEGER) + ? "
    "WHERE typeof(value) = 'integer' "
    "OR (typeof(value) = 'text' AND value = CAST(CAST(value AS INTEGER) AS TEXT)) "
    "RETURNING value"
)


def _decode(value: object) -> Any:
    # Counters are stored as SQLite integers (so the database adds to them); the rest as JSON.
    if isinstance(value, str | bytes):
        return orjson.loads(value)
    return value


class _Job:
    __slots__ = ("fn", "future", "writes")

    def __init__(
        self,
        fn: Callable[[sqlite3.Connection], Any],
        future: asyncio.Future[Any] | None,
        writes: bool,
    ) -> None:
        self.fn = fn
        self.future = future  # None: nobody waits (a checkpoint)
        self.writes = writes


Outcome = tuple["asyncio.Future[Any] | None", Any, "BaseException | None"]


class _Busy(Exception):
    """The database is locked: run this batch in the worker thread, which may wait."""


def _settle(outcomes: list[Outcome]) -> None:
    for future, result, error in outcomes:
        if future is None or future.done():  # a cancelled caller: no one to tell
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


def _is_busy(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc) or "busy" in str(exc)
    )


def _checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")


_CHECKPOINT_EVERY = 256  # inline commits between checkpoints (the WAL holds about as many pages)


class SqliteBackend(Backend):
    def __init__(self, path: str | Path, timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.describe = f"sqlite:///{self.path}"
        self._jobs: SimpleQueue[list[_Job] | None] = SimpleQueue()
        self._outbox: list[_Job] = []  # this loop turn's calls
        self._in_thread = 0  # batches handed to the worker and not settled yet
        self._commits = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None  # the worker's; waits for locks
        self._inline: sqlite3.Connection | None = None  # the loop's; never waits

    # --- the thread ---------------------------------------------------------------------------

    def _explain(self, exc: BaseException) -> StorageError:
        text = str(exc)
        where = f"the SQLite database {self.path} (WAITER_STORAGE={self.describe})"
        if "locked" in text or "busy" in text:
            hint = (
                f"another process holds a lock on it for longer than {self.timeout:g} s "
                "(WAITER_STORAGE_TIMEOUT); stop the other process or give each bot its own file"
            )
        elif "not a database" in text or "malformed" in text or "corrupt" in text:
            hint = (
                "the file is damaged or is not an SQLite database; move it aside (the bot then "
                "starts an empty one) or restore it from a backup"
            )
        elif "readonly" in text or "unable to open" in text or isinstance(exc, OSError):
            hint = "the file or its directory cannot be written; check the path and permissions"
        else:
            hint = "the database refused the operation"
        error = StorageError(f"{where}: {text}; {hint}")
        error.__cause__ = exc
        return error

    def _serve(self) -> None:
        conn = self._conn
        loop = self._loop
        assert conn is not None and loop is not None
        jobs = self._jobs
        while True:
            batch = jobs.get()
            if batch is None:
                break
            try:
                outcomes = self._run_batch(conn, batch, inline=False)
            except Exception as exc:
                # Not expected (the batch catches what SQLite raises), but a job left without
                # an outcome would leave its caller waiting for ever: each is told instead.
                failed = StorageError(f"{self.describe}: the database thread failed: {exc!r}")
                outcomes = [(job.future, None, failed) for job in batch]
            # A closed loop has nobody waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._thread_done, outcomes)
        conn.close()

    def _thread_done(self, outcomes: list[Outcome]) -> None:
        self._in_thread -= 1
        _settle(outcomes)

    def _run_batch(
        self, conn: sqlite3.Connection, batch: list[_Job], *, inline: bool
    ) -> list[Outcome]:
        """Run ``batch`` in order; every write inside one transaction, committed once.

        Inline, a locked database raises ``_Busy`` with nothing changed, and the whole batch
        is run again by the worker thread (a job only reads or writes the database, so running
        it twice is running it once).
        """
        outcomes: list[Outcome] = []
        writing = any(job.writes for job in batch)
        if writing:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                if inline and _is_busy(exc):
                    raise _Busy from exc
                refused = self._explain(exc)
                return [(job.future, None, refused) for job in batch]
        try:
            for job in batch:
                if job.writes:
                    # A savepoint each: a write that fails takes back only its own changes.
                    conn.execute("SAVEPOINT job")
                try:
                    result = job.fn(conn)
                except Exception as exc:
                    if job.writes:
                        conn.execute("ROLLBACK TO job")
                        conn.execute("RELEASE job")
                    if inline and isinstance(exc, sqlite3.Error) and _is_busy(exc):
                        raise _Busy from exc
                    failed = self._explain(exc) if isinstance(exc, sqlite3.Error) else exc
                    outcomes.append((job.future, None, failed))
                else:
                    if job.writes:
                        conn.execute("RELEASE job")
                    outcomes.append((job.future, result, None))
            if writing:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.rollback()
            if inline and _is_busy(exc):
                raise _Busy from exc
            lost = self._explain(exc)
            return [(job.future, None, lost) for job in batch]
        except _Busy:
            if conn.in_transaction:
                conn.rollback()
            raise
        return outcomes

    def _hand_over(self) -> None:
        batch, self._outbox = self._outbox, []
        if not batch:
            return
        inline = self._inline
        if self._in_thread == 0 and inline is not None:
            try:
                outcomes = self._run_batch(inline, batch, inline=True)
            except _Busy:
                pass  # to the worker, which waits for the lock
            else:
                if any(job.writes for job in batch):
                    self._commits += 1
                    if self._commits % _CHECKPOINT_EVERY == 0:
                        self._to_thread([_Job(_checkpoint, None, True)])
                _settle(outcomes)
                return
        self._to_thread(batch)

    def _to_thread(self, batch: list[_Job]) -> None:
        self._in_thread += 1
        self._jobs.put(batch)

    async def _call(self, fn: Callable[[sqlite3.Connection], T], *, writes: bool) -> T:
        loop = self._loop
        if self._thread is None or loop is None:
            raise StorageError(f"{self.describe} is not open (the app has not started, or stopped)")
        future: asyncio.Future[T] = loop.create_future()
        outbox = self._outbox
        if not outbox:
            loop.call_soon(self._hand_over)
        outbox.append(_Job(fn, future, writes))
        return await future

    # --- lifecycle ----------------------------------------------------------------------------

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._open_sync)
        self._loop = loop
        self._thread = threading.Thread(target=self._serve, name="waiter-sdk-sqlite", daemon=True)
        self._thread.start()

    def _open_sync(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise self._explain(exc) from exc
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_CREATE)
            row = conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            if row is None:
                conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('version', ?)", (str(_SCHEMA_VERSION),)
                )
            elif int(row[0]) > _SCHEMA_VERSION:
                raise StorageError(
                    f"{self.path} was written by a newer waiter-sdk (layout {row[0]}, this one "
                    f"reads {_SCHEMA_VERSION}); upgrade waiter-sdk or use another file"
                )
        except sqlite3.Error as exc:
            conn.close()
            raise self._explain(exc) from exc
        except BaseException:
            conn.close()
            raise
        try:
            # The loop's own connection: no busy wait (a lock sends the batch to the worker),
            # and no checkpoint of its own (the worker runs them, with their fsync).
            inline = sqlite3.connect(
                self.path, timeout=0, isolation_level=None, check_same_thread=False
            )
            inline.execute("PRAGMA synchronous=NORMAL")
            inline.execute("PRAGMA wal_autocheckpoint=0")
        except sqlite3.Error as exc:
            conn.close()
            raise self._explain(exc) from exc
        self._conn = conn
        self._inline = inline

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._hand_over()
        self._jobs.put(None)  # after every job already queued
        await asyncio.get_running_loop().run_in_executor(None, thread.join)
        inline, self._inline = self._inline, None
        if inline is not None:
            inline.close()

    # --- records ------------------------------------------------------------------------------

    async def load(self, bucket: Bucket, names: Iterable[str] | None = None) -> dict[str, Any]:
        wanted = None if names is None else tuple(names)

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            rows = conn.execute(
                "SELECT field, value FROM records WHERE scope = ? AND plugin = ? AND owner = ?",
                (bucket.scope, bucket.plugin, bucket.owner),
            ).fetchall()
            if wanted is None:
                return {name: _decode(value) for name, value in rows}
            return {name: _decode(value) for name, value in rows if name in wanted}

        return await self._call(run, writes=False)

    async def write(
        self,
        bucket: Bucket,
        values: Mapping[str, Any],
        increments: Mapping[str, tuple[int, int]],
    ) -> dict[str, int]:
        head = (bucket.scope, bucket.plugin, bucket.owner)
        # Encoded here, on the loop: a value that cannot be encoded fails its caller only.
        rows = [(*head, name, orjson.dumps(value).decode()) for name, value in values.items()]
        counts = [(name, delta, default) for name, (delta, default) in increments.items()]

        def run(conn: sqlite3.Connection) -> dict[str, int]:
            if rows:
                conn.executemany(_UPSERT, rows)
            counted: dict[str, int] = {}
            for name, delta, default in counts:
                row = conn.execute(_INCREMENT, (*head, name, default + delta, delta)).fetchone()
                if row is None:
                    raise StoredValueError(
                        f"plugin {bucket.plugin}: {name!r} of {bucket.owner or 'its key-value data'}"
                        " holds something other than an integer; it cannot be incremented"
                    )
                counted[name] = int(row[0])
            return counted

        return await self._call(run, writes=True)

    async def delete(self, bucket: Bucket, names: Iterable[str]) -> int:
        head = (bucket.scope, bucket.plugin, bucket.owner)
        rows = [(*head, name) for name in names]

        def run(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany(
                "DELETE FROM records WHERE scope = ? AND plugin = ? AND owner = ? AND field = ?",
                rows,
            )
            return conn.total_changes - before

        return await self._call(run, writes=True)

    async def names(self, bucket: Bucket) -> list[str]:
        def run(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT field FROM records WHERE scope = ? AND plugin = ? AND owner = ? "
                "ORDER BY field",
                (bucket.scope, bucket.plugin, bucket.owner),
            ).fetchall()
            return [row[0] for row in rows]

        return await self._call(run, writes=False)

    async def owners(self, scope: Scope, plugin: str, prefix: str = "") -> list[str]:
        def run(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT DISTINCT owner FROM records WHERE scope = ? AND plugin = ? "
                "AND substr(owner, 1, ?) = ? ORDER BY owner",
                (scope, plugin, len(prefix), prefix),
            ).fetchall()
            return [row[0] for row in rows]

        return await self._call(run, writes=False)

    # --- schema -------------------------------------------------------------------------------

    async def schema(self, scope: Scope, plugin: str) -> dict[str, str]:
        def run(conn: sqlite3.Connection) -> dict[str, str]:
            rows = conn.execute(
                "SELECT field, type FROM fields WHERE scope = ? AND plugin = ?", (scope, plugin)
            ).fetchall()
            return dict(rows)

        return await self._call(run, writes=False)

    async def add_fields(self, scope: Scope, plugin: str, types: Mapping[str, str]) -> None:
        rows = [(scope, plugin, name, kind) for name, kind in types.items()]

        def run(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO fields VALUES (?, ?, ?, ?) "
                "ON CONFLICT (scope, plugin, field) DO UPDATE SET type = excluded.type",
                rows,
            )

        await self._call(run, writes=True)

    async def drop_field(self, scope: Scope, plugin: str, name: str) -> int:
        def run(conn: sqlite3.Connection) -> int:
            conn.execute(
                "DELETE FROM fields WHERE scope = ? AND plugin = ? AND field = ?",
                (scope, plugin, name),
            )
            cursor = conn.execute(
                "DELETE FROM records WHERE scope = ? AND plugin = ? AND field = ?",
                (scope, plugin, name),
            )
            return cursor.rowcount

        return await self._call(run, writes=True)

    async def rename_field(self, scope: Scope, plugin: str, old: str, new: str) -> int:
        def run(conn: sqlite3.Connection) -> int:
            conn.execute(
                "UPDATE fields SET field = ? WHERE scope = ? AND plugin = ? AND field = ?",
                (new, scope, plugin, old),
            )
            cursor = conn.execute(
                "UPDATE records SET field = ? WHERE scope = ? AND plugin = ? AND field = ?",
                (new, scope, plugin, old),
            )
            return cursor.rowcount

        return await self._call(run, writes=True)
