"""Bad input: a damaged, locked or unreachable database gives a clear StorageError (naming
WAITER_STORAGE and the file or address) while the bot goes on answering what needs no storage;
values of the wrong type are refused, naming the plugin and the field or key."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field, ValidationError

from tests.kit import texts
from waiter_sdk import MessageEvent, Plugin, command
from waiter_sdk.config import Settings
from waiter_sdk.exceptions import StorageError, StoredValueError
from waiter_sdk.storage import Bucket, Counter, Fields
from waiter_sdk.testing import Simulator


class Tally(Fields):
    label: str = ""
    n: int = 0
    ratio: float = 0.0
    hits: Counter = 0


class Stored(Plugin):
    """One command that needs storage, and others that try to store what does not fit."""

    name = "stored"
    user_fields = Tally

    @command("count")
    async def count(self, event: MessageEvent) -> None:
        tally = await event.observe_user()
        tally.hits += 1
        await event.send(f"count {tally.hits}")

    # What a careless plugin might store; the test sets it before sending the command.
    value: Any = None

    @command("assign")
    async def assign(self, event: MessageEvent) -> None:
        tally = await event.observe_user()
        tally.label = "set before"
        setattr(tally, event.args[0], self.value)

    @command("increment-by")
    async def increment_by(self, event: MessageEvent) -> None:
        tally = await event.observe_user()
        await tally.increment("hits", self.value)

    @command("put")
    async def put(self, event: MessageEvent) -> None:
        await self.kv.put(event.args[0], self.value)


async def send_value(sim: Simulator, command: str, value: Any) -> None:
    sim.app.plugins["stored"].value = value
    await sim.send(sim.user("alice"), command)


class Plain(Plugin):
    name = "plain"

    @command("ping")
    async def ping(self, event: MessageEvent) -> None:
        await event.send("pong")


async def stored_tally(sim: Simulator, user_id: str = "alice") -> Tally:
    async with sim.app.storage.user("sim", user_id, Tally) as tally:
        return tally


def storage_errors(sim: Simulator) -> list[str]:
    assert all(isinstance(e, StorageError) for e in sim.errors), sim.errors
    return [str(e) for e in sim.errors]


# --- a database the bot cannot use -------------------------------------------------------------


async def test_a_damaged_sqlite_file_is_named_and_the_bot_answers_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    path.write_bytes(b"this is not an SQLite database\n" * 200)
    url = f"sqlite:///{path}"
    async with Simulator(plugins=[Stored, Plain], storage=url, raise_errors=False) as sim:
        assert sim.app.plugin_errors == []  # an unusable database does not refuse plugins
        alice = sim.user("alice")
        assert texts(await sim.send(alice, "/ping")) == ["pong"]
        assert await sim.send(alice, "/count") == []
        assert texts(await sim.send(alice, "/ping")) == ["pong"]
        (error,) = storage_errors(sim)
        assert "WAITER_STORAGE" in error and str(path) in error
        assert "damaged or is not an SQLite database" in error
        # Moved aside, the next call opens a new database without a restart.
        path.rename(tmp_path / "bot.db.damaged")
        assert texts(await sim.send(alice, "/count")) == ["count 1"]
        assert (await stored_tally(sim)).hits == 1
    assert (tmp_path / "bot.db.damaged").read_bytes().startswith(b"this is not")


@pytest.fixture
def exclusive_lock() -> Iterator[Any]:
    """``lock(path)``: another connection holds ``BEGIN EXCLUSIVE`` on the file until the test
    ends (or it calls ``release()``)."""
    held: list[sqlite3.Connection] = []

    class Lock:
        def __call__(self, path: Path) -> None:
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("BEGIN EXCLUSIVE")
            held.append(conn)

        def release(self) -> None:
            while held:
                conn = held.pop()
                conn.execute("ROLLBACK")
                conn.close()

    lock = Lock()
    try:
        yield lock
    finally:
        lock.release()


@pytest.mark.parametrize("when", ["before-start", "while-running"])
async def test_a_locked_sqlite_file_is_named_and_the_bot_answers_the_rest(
    tmp_path: Path, exclusive_lock: Any, when: str
) -> None:
    path = tmp_path / "bot.db"
    url = f"sqlite:///{path}"
    settings = Settings.load(storage_timeout=0.2)
    if when == "while-running":
        # A database the bot made (WAL: reads still work under the lock, writes wait).
        async with Simulator(plugins=[Stored], storage=url) as sim:
            assert texts(await sim.send(sim.user("alice"), "/count")) == ["count 1"]
    exclusive_lock(path)  # a new file: nobody may even read it
    async with Simulator(
        plugins=[Stored, Plain], settings=settings, storage=url, raise_errors=False
    ) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/count")
        assert texts(await sim.send(alice, "/ping")) == ["pong"]
        (error,) = storage_errors(sim)
        assert "WAITER_STORAGE" in error and str(path) in error
        assert "locked" in error and "WAITER_STORAGE_TIMEOUT" in error
        # Once the other process lets go, the same app stores again.
        exclusive_lock.release()
        await sim.send(alice, "/count")
        assert len(sim.errors) == 1
        expected = 1 if when == "before-start" else 2  # the locked write was not made
        assert (await stored_tally(sim)).hits == expected


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_redis_is_named_and_the_bot_answers_the_rest() -> None:
    port = free_port()  # nothing listens there
    settings = Settings.load(storage_timeout=0.5)
    url = f"redis://127.0.0.1:{port}/0"
    async with Simulator(
        plugins=[Stored, Plain], settings=settings, storage=url, raise_errors=False
    ) as sim:
        alice = sim.user("alice")
        assert texts(await sim.send(alice, "/ping")) == ["pong"]
        assert await sim.send(alice, "/count") == []
        assert texts(await sim.send(alice, "/ping")) == ["pong"]
        (error,) = storage_errors(sim)
        assert "WAITER_STORAGE" in error and f"127.0.0.1:{port}" in error
        try:
            import redis  # noqa: F401
        except ImportError:
            pass
        else:  # the Redis backend itself must be what failed, not a missing driver
            assert "pip install" not in error


# --- values that do not fit --------------------------------------------------------------------


async def test_assigning_a_value_of_the_wrong_type_names_the_field(storage_url: str) -> None:
    async with Simulator(plugins=[Stored], storage=storage_url, raise_errors=False) as sim:
        await send_value(sim, "/assign n", "many")
        await send_value(sim, "/assign hits", "lots")
        await send_value(sim, "/assign nope", 1)
        assert [type(e) for e in sim.errors] == [ValidationError] * 3
        first, second, third = sim.errors
        assert [err["loc"] for err in first.errors()] == [("n",)]  # type: ignore[attr-defined]
        assert [err["loc"] for err in second.errors()] == [("hits",)]  # type: ignore[attr-defined]
        assert [err["loc"] for err in third.errors()] == [("nope",)]  # type: ignore[attr-defined]
        assert "\nn\n" in str(first) and "Input should be a valid integer" in str(first)
        # What the handler changed before the bad assignment is written back; the bad value
        # never reached the model.
        tally = await stored_tally(sim)
        assert (tally.label, tally.n, tally.hits) == ("set before", 0, 0)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
async def test_a_float_json_cannot_hold_is_refused_when_assigned(
    storage_url: str, value: float
) -> None:
    # JSON has no NaN or infinity: stored, it would come back as null and the record would no
    # longer load. Refused at the assignment, like any value of the wrong type.
    async with Simulator(plugins=[Stored], storage=storage_url, raise_errors=False) as sim:
        await send_value(sim, "/assign ratio", value)
        (error,) = sim.errors
        assert isinstance(error, ValidationError)
        assert [err["loc"] for err in error.errors()] == [("ratio",)]
        assert (await stored_tally(sim)).ratio == 0.0
        assert texts(await sim.send(sim.user("alice"), "/count")) == ["count 1"]


class Scores(Plugin):
    name = "scores"

    class Kept(Fields):
        ratios: list[float] = Field(default_factory=list)

    user_fields = Kept

    @command("ratio")
    async def ratio(self, event: MessageEvent) -> None:
        kept = await event.observe_user()
        # In place: no assignment, so no validation; the write-back must still refuse it.
        kept.ratios.append(float(event.args[0]))


async def test_a_nan_appended_in_place_is_refused_at_write_back(storage_url: str) -> None:
    async with Simulator(plugins=[Scores], storage=storage_url, raise_errors=False) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/ratio 0.5")
        await sim.send(alice, "/ratio nan")
        (error,) = sim.errors
        assert isinstance(error, StoredValueError)
        assert "plugin scores" in str(error) and "'ratios'" in str(error)
        assert "NaN and infinity are not JSON" in str(error)
        async with sim.app.storage.user("sim", "alice", Scores.Kept) as kept:
            assert kept.ratios == [0.5]  # the earlier write kept, the bad one not written


async def test_an_int_too_large_to_store_names_the_plugin_and_field(storage_url: str) -> None:
    async with Simulator(plugins=[Stored], storage=storage_url, raise_errors=False) as sim:
        await send_value(sim, "/assign n", 2**64)
        (error,) = sim.errors
        assert isinstance(error, StoredValueError)
        assert "plugin stored" in str(error) and "'n'" in str(error)
        # The write was refused whole: the record still loads, without the label either.
        tally = await stored_tally(sim)
        assert (tally.label, tally.n) == ("", 0)
        assert texts(await sim.send(sim.user("alice"), "/count")) == ["count 1"]


@pytest.mark.parametrize("by", [1.5, True, "1"])
async def test_incrementing_by_something_other_than_an_int_is_refused(
    storage_url: str, by: Any
) -> None:
    async with Simulator(plugins=[Stored], storage=storage_url, raise_errors=False) as sim:
        await send_value(sim, "/increment-by", by)
        (error,) = sim.errors
        assert isinstance(error, StoredValueError)
        assert "Tally.hits: increment by an int" in str(error)
        assert (await stored_tally(sim)).hits == 0


class Typed(Plugin):
    name = "typed"

    class Before(Fields):
        level: str = ""

    user_fields = Before

    @command("level")
    async def level(self, event: MessageEvent) -> None:
        fields = await event.observe_user()
        if event.args:
            fields.level = event.args[0]
        await event.send(f"level {fields.level!r}")


class TypedLater(Plugin):
    name = "typed"

    class After(Fields):
        level: int = 0

    user_fields = After

    @command("level")
    async def level(self, event: MessageEvent) -> None:
        fields = await event.observe_user()
        await event.send(f"level {fields.level!r}")


async def test_a_stored_value_that_no_longer_fits_names_plugin_and_field(
    durable_storage_url: str, logs: list[str]
) -> None:
    async with Simulator(plugins=[Typed], storage=durable_storage_url) as sim:
        await sim.send(sim.user("alice"), "/level high")
        await sim.send(sim.user("carol"), "/level 3")
    async with Simulator(
        plugins=[TypedLater, Plain], storage=durable_storage_url, raise_errors=False
    ) as sim:
        assert sim.app.plugin_errors == []  # a changed type is not refused at load ...
        assert any("field 'level' changed type from str to int" in line for line in logs)
        alice, bob, carol = sim.user("alice"), sim.user("bob"), sim.user("carol")
        assert await sim.send(alice, "/level") == []  # ... but a value that does not fit is
        assert texts(await sim.send(bob, "/level")) == ["level 0"]
        assert texts(await sim.send(carol, "/level")) == ["level 3"]  # "3" fits an int
        assert texts(await sim.send(alice, "/ping")) == ["pong"]
        (error,) = sim.errors
        assert isinstance(error, StoredValueError)
        message = str(error)
        assert message.startswith("plugin typed: the stored user record of sim:alice")
        assert "level: Input should be a valid integer" in message


# --- key-value data ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        {1, 2},
        object(),
        b"bytes",
        {1: "a key that is not a str"},
        [1, {"deep": 2j}],
        float("nan"),
        {"scores": [1.0, float("inf")]},
    ],
    ids=["set", "object", "bytes", "int-key", "nested-complex", "nan", "nested-inf"],
)
async def test_a_kv_value_that_is_not_json_is_refused_naming_plugin_and_key(
    storage_url: str, value: Any
) -> None:
    async with Simulator(plugins=[Stored], storage=storage_url, raise_errors=False) as sim:
        await send_value(sim, "/put motd", value)
        (error,) = sim.errors
        assert isinstance(error, StoredValueError)
        assert str(error).startswith("plugin stored: the value for key 'motd' cannot be stored")
        kv = sim.app.plugins["stored"].kv
        assert await kv.keys() == []


async def test_kv_refuses_a_key_that_is_not_a_str_and_increments_of_non_integers(
    storage_url: str,
) -> None:
    async with Simulator(plugins=[Stored], storage=storage_url) as sim:
        kv = sim.app.plugins["stored"].kv
        with pytest.raises(StoredValueError, match="plugin stored: a key is a str, not 1"):
            await kv.put(1, "x")
        await kv.put("word", "seven")
        await kv.put("float", 1.5)
        for key in ("word", "float"):
            with pytest.raises(StoredValueError, match=f"'{key}'.*cannot be incremented"):
                await kv.increment(key)
        with pytest.raises(StoredValueError, match="increment 'n' by an int"):
            await kv.increment("n", 1.0)
        assert await kv.get("word") == "seven" and await kv.get("float") == 1.5
        assert await kv.keys() == ["float", "word"]


async def test_a_failure_in_the_sqlite_thread_reaches_every_caller(tmp_path: Path) -> None:
    # Whatever goes wrong in the worker thread, no caller is left waiting for an outcome.
    from waiter_sdk.storage.sqlite import SqliteBackend

    backend = SqliteBackend(tmp_path / "x.db", timeout=0.1)
    await backend.open()
    try:

        def broken(self: SqliteBackend, *args: object, **kwargs: object) -> list[object]:
            raise RuntimeError("a bug in the batch runner")

        backend._run_batch = broken.__get__(backend)  # type: ignore[method-assign]
        backend._in_thread = 1  # as if a locked batch were still with the worker
        with pytest.raises(StorageError, match="the database thread failed"):
            await backend.load(Bucket("user", "p", "o"))
    finally:
        backend._in_thread = 0
        await backend.close()
