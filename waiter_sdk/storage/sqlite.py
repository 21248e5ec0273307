"""``SqliteBackend``: one SQLite file (WAL), driven from one thread of its own.

Usage::

    WAITER_STORAGE=sqlite waiter-sdk run                 # <data_dir>/waiter.db
    WAITER_STORAGE=sqlite:///var/lib/bot/bot.db waiter-sdk run

The standard library's ``sqlite3`` in one dedicated thread, not aiosqlite: aiosqlite is that
same design (a thread per connection and a queue), and owning the thread lets it commit every
write that queued while the last commit ran in one transaction (group commit), which is most of
the speed when many handlers write at once. Each write keeps its own outcome inside the batch
(a savepoint each), and its caller hears back only after the COMMIT that made it durable.

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
    __slots__ = ("fn", "future", "loop", "writes")

    def __init__(
        self,
        fn: Callable[[sqlite3.Connection], Any],
        future: asyncio.Future[Any],
        loop: asyncio.AbstractEventLoop,
        writes: bool,
    ) -> None:
        self.fn = fn
        self.future = future
        self.loop = loop
        self.writes = writes


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # its caller was cancelled: the outcome has no one to go to
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class SqliteBackend(Backend):
    def __init__(self, path: str | Path, timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.describe = f"sqlite:///{self.path}"
        self._jobs: SimpleQueue[_Job | None] = SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None

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
        assert conn is not None
        jobs = self._jobs
        while True:
            job = jobs.get()
            if job is None:
                break
            batch = [job]
            # Group commit: every write that queued while the last one ran shares one COMMIT.
            while not jobs.empty() and len(batch) < 512:
                more = jobs.get()
                if more is None:
                    jobs.put(None)
                    break
                batch.append(more)
            self._run_batch(conn, batch)
        conn.close()

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        outcomes: list[tuple[_Job, Any, BaseException | None]] = []
        writes = [job for job in batch if job.writes]
        for job in batch:
            if job.writes:
                continue
            try:
                outcomes.append((job, job.fn(conn), None))
            except sqlite3.Error as exc:
                outcomes.append((job, None, self._explain(exc)))
            except Exception as exc:
                outcomes.append((job, None, exc))
        if writes:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                refused = self._explain(exc)
                outcomes.extend((job, None, refused) for job in writes)
            else:
                done: list[tuple[_Job, Any, BaseException | None]] = []
                for job in writes:
                    conn.execute("SAVEPOINT job")
                    try:
                        result = job.fn(conn)
                    except Exception as exc:
                        conn.execute("ROLLBACK TO job")
                        conn.execute("RELEASE job")
                        failed = self._explain(exc) if isinstance(exc, sqlite3.Error) else exc
                        done.append((job, None, failed))
                    else:
                        conn.execute("RELEASE job")
                        done.append((job, result, None))
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    conn.rollback()
                    lost = self._explain(exc)
                    done = [(job, None, lost) for job, _, _ in done]
                outcomes.extend(done)
        for job, result, error in outcomes:
            # A closed loop has nobody waiting any more.
            with contextlib.suppress(RuntimeError):
                job.loop.call_soon_threadsafe(_settle, job.future, result, error)

    async def _call(self, fn: Callable[[sqlite3.Connection], T], *, writes: bool) -> T:
        if self._thread is None:
            raise StorageError(f"{self.describe} is not open (the app has not started, or stopped)")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Job(fn, future, loop, writes))
        return await future

    # --- lifecycle ----------------------------------------------------------------------------

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._open_sync)
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
        self._conn = conn

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._jobs.put(None)  # after every job already queued
        await asyncio.get_running_loop().run_in_executor(None, thread.join)

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
