"""Write-back: what observe_user / observe_channel load is written back when the handler run or
waiter call that asked ends (however it ends), only the fields that changed; flush() and
increment() write at once; outside a handler, app.storage.user() / channel() write on exit."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import Field

from tests.kit import texts
from waiter_sdk import MessageEvent, Plugin, SessionController, command, session_waiter
from waiter_sdk.exceptions import StorageError
from waiter_sdk.storage import Counter, Fields
from waiter_sdk.testing import Simulator


class Notes(Fields):
    a: str = ""
    b: str = ""
    n: int = 0  # a plain int: a stale load written back would lose an update
    log: list[str] = Field(default_factory=list)
    hits: Counter = 0


class Board(Fields):
    log: list[str] = Field(default_factory=list)


class Notebook(Plugin):
    name = "notebook"
    user_fields = Notes
    channel_fields = Board

    def __init__(self) -> None:
        self.kept: list[MessageEvent] = []
        self.tasks: list[asyncio.Task[Any]] = []
        self.returned: list[int] = []

    @command("slow-a")
    async def slow_a(self, event: MessageEvent) -> None:
        notes = await event.observe_user()
        await asyncio.sleep(10)  # virtual time: another handler runs meanwhile
        notes.a = event.args[0]
        await event.send(f"a={notes.a}")

    @command("set-b")
    async def set_b(self, event: MessageEvent) -> None:
        notes = await event.observe_user()
        notes.b = event.args[0]
        await event.send(f"b={notes.b}")

    @command("boom")
    async def boom(self, event: MessageEvent) -> None:
        notes = await event.observe_user()
        notes.n = 42
        notes.hits += 1
        notes.log.append("before the raise")
        raise RuntimeError("boom")

    @command("hang")
    async def hang(self, event: MessageEvent) -> None:
        notes = await event.observe_user()
        notes.a = "set before hanging"
        notes.hits += 1
        await event.send("hanging")
        await asyncio.Event().wait()  # until the app stops and cancels it

    @command("flush")
    async def flush(self, event: MessageEvent) -> None:
        notes = await event.observe_user()
        notes.a = "flushed"
        await notes.flush()
        async with self.app.storage.user(event.platform, event.sender_id, Notes) as fresh:
            await event.send(f"stored a={fresh.a} b={fresh.b}")
        await asyncio.sleep(10)  # meanwhile another handler sets a
        notes.b = "after the flush"

    @command("inc")
    async def inc(self, event: MessageEvent) -> None:
        notes = await event.observe_user()
        value = await notes.increment("hits", int(event.args[0]))
        self.returned.append(value)
        async with self.app.storage.user(event.platform, event.sender_id, Notes) as fresh:
            await event.send(f"returned {value}, model {notes.hits}, stored {fresh.hits}")
        if len(event.args) > 1:
            await asyncio.sleep(float(event.args[1]))
        notes.hits += 1
        await event.send(f"model {notes.hits}")

    @command("inc-plain")
    async def inc_plain(self, event: MessageEvent) -> None:
        notes = await event.observe_user()
        try:
            await notes.increment("n", 1)
        except StorageError as exc:
            await event.send(f"refused: {exc}")

    @command("keep")
    async def keep(self, event: MessageEvent) -> None:
        self.kept.append(event)
        await event.send("kept")

    @command("later")
    async def later(self, event: MessageEvent) -> None:
        # A task of its own that observes once this handler has returned (after 1 s).
        if event.args == ["too"]:
            notes = await event.observe_user()  # the handler observed too
            notes.b = "by the handler"

        async def afterwards() -> None:
            await asyncio.sleep(1)
            try:
                notes = await event.observe_user()
            except StorageError as exc:
                await event.send(f"refused: {exc}")
            else:
                notes.a = "never written back"
                await event.send("observed")

        self.tasks.append(asyncio.create_task(afterwards()))

    @command("gather")
    async def gather(self, event: MessageEvent) -> None:
        # Observing from tasks the handler waits for is observing in the handler.
        async def one(field: str) -> None:
            notes = await event.observe_user()
            setattr(notes, field, "set in a task")
            notes.hits += 1

        await asyncio.gather(one("a"), one("b"))
        await event.send("gathered")

    @command("note")
    async def note(self, event: MessageEvent) -> None:
        board = await event.observe_channel()
        board.log.append(f"{event.sender_id}:{event.args[0]}")

    @command("show")
    async def show(self, event: MessageEvent) -> None:
        notes = await event.observe_user()
        await event.send(f"a={notes.a} b={notes.b} n={notes.n} hits={notes.hits} log={notes.log}")


async def stored(sim: Simulator, user_id: str = "alice") -> Notes:
    async with sim.app.storage.user("sim", user_id, Notes) as notes:
        return notes


# --- only what changed is written --------------------------------------------------------------


async def test_two_handlers_changing_different_fields_of_one_user_both_persist(
    storage_url: str,
) -> None:
    async with Simulator(plugins=[Notebook], storage=storage_url) as sim:
        alice = sim.user("alice")
        # Two conversations, so the sender gate does not hold the second message back: both
        # handlers load alice's record before either writes.
        assert await sim.send(alice, "/slow-a A", group="g1") == []
        assert texts(await sim.send(alice, "/set-b B", group="g2")) == ["b=B"]
        assert (await stored(sim)).model_dump(include={"a", "b"}) == {"a": "", "b": "B"}
        assert texts(await sim.advance(10)) == ["a=A"]
        # The slow handler loaded b="" but did not change it, so it did not write it back.
        assert (await stored(sim)).model_dump(include={"a", "b"}) == {"a": "A", "b": "B"}


async def test_reading_without_changing_writes_nothing(storage_url: str) -> None:
    async with Simulator(plugins=[Notebook], storage=storage_url) as sim:
        await sim.send(sim.user("bob"), "/show", group="g1")
        assert await sim.app.storage.owners("user", "notebook") == []
        await sim.send(sim.user("alice"), "/set-b x", group="g1")
        assert await sim.app.storage.owners("user", "notebook") == ["sim:alice"]


# --- however the handler ends ------------------------------------------------------------------


async def test_a_handler_that_raises_still_writes_back(storage_url: str) -> None:
    async with Simulator(plugins=[Notebook], storage=storage_url, raise_errors=False) as sim:
        await sim.send(sim.user("alice"), "/boom")
        assert [str(e) for e in sim.errors] == ["boom"]
        notes = await stored(sim)
        assert (notes.n, notes.hits, notes.log) == (42, 1, ["before the raise"])


async def test_a_handler_cancelled_when_the_app_stops_still_writes_back(
    durable_storage_url: str,
) -> None:
    async with Simulator(plugins=[Notebook], storage=durable_storage_url) as sim:
        assert texts(await sim.send(sim.user("alice"), "/hang")) == ["hanging"]
    # The storage closes after the handlers ended: a second app reads what the first wrote.
    async with Simulator(plugins=[Notebook], storage=durable_storage_url) as sim:
        notes = await stored(sim)
        assert (notes.a, notes.hits) == ("set before hanging", 1)


async def test_tasks_the_handler_waits_for_write_back_with_it(storage_url: str) -> None:
    async with Simulator(plugins=[Notebook], storage=storage_url) as sim:
        assert texts(await sim.send(sim.user("alice"), "/gather")) == ["gathered"]
        notes = await stored(sim)
        assert (notes.a, notes.b, notes.hits) == ("set in a task", "set in a task", 2)


# --- waiter calls ------------------------------------------------------------------------------


class Tally(Plugin):
    name = "tally"
    user_fields = Notes

    def __init__(self) -> None:
        self.outcomes: list[str] = []
        self.tasks: list[asyncio.Task[None]] = []

    @command("tally")
    async def tally(self, event: MessageEvent) -> None:
        pause = float(event.args[0]) if event.args else 0.0

        @session_waiter(timeout=600)
        async def each(controller: SessionController, message: MessageEvent) -> None:
            text = message.message_str
            if text == "done":
                controller.stop()
                return
            notes = await message.observe_user()
            notes.n += 1
            notes.log.append(text)
            if pause:
                await asyncio.sleep(pause)
            if text == "fail":
                raise ValueError("the waiter call failed")
            await message.send(f"{text}: n={notes.n}")

        await event.send("tallying")
        await each(event)
        await event.send("tally over")

    @command("spawn")
    async def spawn(self, event: MessageEvent) -> None:
        @session_waiter(timeout=600)
        async def each(controller: SessionController, message: MessageEvent) -> None:
            async def afterwards() -> None:
                await asyncio.sleep(1)  # the call has returned by then
                try:
                    notes = await message.observe_user()
                except StorageError as exc:
                    self.outcomes.append(f"refused: {exc}")
                else:
                    notes.a = "never written back"
                    self.outcomes.append("observed")

            self.tasks.append(asyncio.create_task(afterwards()))
            if message.message_str == "stop":
                controller.stop()

        await each(event)


@pytest.mark.parametrize("pause", [0, 1], ids=["call-returns-at-once", "call-waits"])
async def test_a_waiter_call_writes_back_before_the_next_queued_message_loads(
    storage_url: str, pause: int
) -> None:
    async with Simulator(plugins=[Tally], storage=storage_url) as sim:
        alice = sim.user("alice")
        assert texts(await sim.send(alice, f"/tally {pause}", group="g1")) == ["tallying"]
        # Three messages in one burst: the second and third queue behind the first call.
        for text in ("x", "y", "z"):
            sim.app.dispatch(sim.message(alice, text, group="g1"))
        out = await sim.settle()
        for _ in range(3 * pause):
            out += await sim.advance(1)
        # Each call loaded what the call before it wrote: a plain int, so a call that loaded
        # before the previous write-back would have said n=1 again.
        assert texts(out) == ["x: n=1", "y: n=2", "z: n=3"]
        assert texts(await sim.send(alice, "done", group="g1")) == ["tally over"]
        notes = await stored(sim)
        assert (notes.n, notes.log) == (3, ["x", "y", "z"])


@pytest.mark.parametrize("pause", [0, 1], ids=["call-returns-at-once", "call-waits"])
async def test_a_waiter_call_that_raises_still_writes_back(storage_url: str, pause: int) -> None:
    async with Simulator(plugins=[Tally], storage=storage_url, raise_errors=False) as sim:
        alice = sim.user("alice")
        await sim.send(alice, f"/tally {pause}")
        await sim.send(alice, "fail")
        await sim.advance(pause)
        assert [str(e) for e in sim.errors] == ["the waiter call failed"]
        notes = await stored(sim)
        assert (notes.n, notes.log) == (1, ["fail"])


@pytest.mark.parametrize("then", ["stop", "wait"], ids=["session-ended", "session-waits"])
async def test_observe_in_a_task_that_outlives_its_waiter_call_is_refused(
    storage_url: str, then: str
) -> None:
    async with Simulator(plugins=[Tally], storage=storage_url) as sim:
        await sim.send(sim.user("alice"), "/spawn")
        await sim.send(sim.user("alice"), then)
        await sim.advance(1)
        (outcome,) = sim.app.plugins["tally"].outcomes
        assert outcome.startswith("refused: observe_user() writes back when its handler")
        assert (await stored(sim)).a == ""


class Finale(Plugin):
    """A game whose last waiter call ends the session first, then records the result."""

    name = "finale"
    user_fields = Notes

    @command("game")
    async def game(self, event: MessageEvent) -> None:
        pause = float(event.args[0]) if event.args else 0.0

        @session_waiter(timeout=600)
        async def each(controller: SessionController, message: MessageEvent) -> None:
            controller.stop()
            if pause:
                await asyncio.sleep(pause)
            notes = await message.observe_user()
            notes.n += 1
            notes.a = "won"

        await each(event)
        await event.send("game over")


@pytest.mark.parametrize("pause", [0, 1], ids=["call-returns-at-once", "call-waits"])
async def test_a_waiter_call_that_stopped_its_session_still_observes_and_writes_back(
    storage_url: str, pause: int
) -> None:
    async with Simulator(plugins=[Finale], storage=storage_url) as sim:
        await sim.send(sim.user("alice"), f"/game {pause}")
        out = await sim.send(sim.user("alice"), "the winning move")
        out += await sim.advance(pause)
        assert texts(out) == ["game over"]
        async with sim.app.storage.user("sim", "alice", Notes) as notes:
            assert (notes.n, notes.a) == (1, "won")


# --- flush() and increment() -------------------------------------------------------------------


async def test_flush_writes_now_and_later_only_what_changed_since(storage_url: str) -> None:
    async with Simulator(plugins=[Notebook], storage=storage_url) as sim:
        alice = sim.user("alice")
        out = await sim.send(alice, "/flush", group="g1")
        assert texts(out) == ["stored a=flushed b="]  # written before the handler returned
        await sim.send(alice, "/set-b other", group="g2")
        await sim.send(alice, "/slow-a overwritten", group="g3")
        await sim.advance(10)
        # The flushing handler changed only b after its flush: it does not write back its old
        # a over the newer one, nor the b it loaded.
        notes = await stored(sim)
        assert (notes.a, notes.b) == ("overwritten", "after the flush")


async def test_increment_writes_at_once_and_is_not_written_again(storage_url: str) -> None:
    async with Simulator(plugins=[Notebook], storage=storage_url) as sim:
        out = await sim.send(sim.user("alice"), "/inc 5")
        assert texts(out) == ["returned 5, model 5, stored 5", "model 6"]
        assert (await stored(sim)).hits == 6  # +5 at once, +1 at return: not 5 twice


async def test_increment_returns_the_stored_value_with_other_handlers_increments(
    storage_url: str,
) -> None:
    async with Simulator(plugins=[Notebook], storage=storage_url) as sim:
        alice = sim.user("alice")
        out = await sim.send(alice, "/inc 1 10", group="g1")  # loads 0, adds 1, waits 10 s
        out += await sim.send(alice, "/inc 100", group="g2")  # loads 1, adds 100
        out += await sim.advance(10)
        assert texts(out) == [
            "returned 1, model 1, stored 1",
            "returned 101, model 101, stored 101",
            "model 102",  # the second handler's +1, written back: the stored value
            "model 2",  # the first handler's model holds what it knew until it writes back
        ]
        assert (await stored(sim)).hits == 103


async def test_increment_of_a_field_that_is_not_a_counter_is_refused(storage_url: str) -> None:
    async with Simulator(plugins=[Notebook], storage=storage_url) as sim:
        (said,) = texts(await sim.send(sim.user("alice"), "/inc-plain"))
        assert said == "refused: Notes.n is not a Counter; only counters increment"
        assert (await stored(sim)).n == 0


# --- outside handlers --------------------------------------------------------------------------


async def test_observe_outside_a_handler_points_to_app_storage(storage_url: str) -> None:
    async with Simulator(plugins=[Notebook], storage=storage_url) as sim:
        await sim.send(sim.user("alice"), "/keep", group="g1")
        (event,) = sim.app.plugins["notebook"].kept
        with pytest.raises(StorageError, match=r"app\.storage\.user\(\.\.\.\)"):
            await event.observe_user(Notes)
        with pytest.raises(StorageError, match=r"app\.storage\.channel\(\.\.\.\)"):
            await event.observe_channel(Board)
        # Without a model too: being outside a handler is the problem to report, not the model.
        with pytest.raises(StorageError, match=r"app\.storage\.user\(\.\.\.\)"):
            await event.observe_user()
        assert await sim.app.storage.owners("user", "notebook") == []


@pytest.mark.parametrize("handler_observed", [False, True], ids=["alone", "after-the-handler"])
async def test_observe_in_a_task_that_outlives_its_handler_is_refused(
    storage_url: str, handler_observed: bool
) -> None:
    # The handler has returned and written back: nothing would write this task's changes.
    async with Simulator(plugins=[Notebook], storage=storage_url) as sim:
        await sim.send(sim.user("alice"), "/later too" if handler_observed else "/later")
        (said,) = texts(await sim.advance(1))
        assert said.startswith("refused: observe_user() writes back when its handler")
        assert "app.storage.user(...)" in said
        notes = await stored(sim)
        assert notes.a == ""
        assert notes.b == ("by the handler" if handler_observed else "")


async def test_app_storage_user_writes_on_exit_even_when_the_block_raises(
    storage_url: str,
) -> None:
    async with Simulator(plugins=[Notebook], storage=storage_url) as sim:
        async with sim.app.storage.user("sim", "alice", Notes) as notes:
            notes.a = "from outside"
            notes.hits += 2
            assert (await stored(sim)).a == ""  # not before the block ends
        out = await sim.send(sim.user("alice"), "/show")
        assert texts(out) == ["a=from outside b= n=0 hits=2 log=[]"]

        async def fails_in_the_block() -> None:
            async with sim.app.storage.user("sim", "alice", Notes) as notes:
                notes.b = "despite the error"
                raise KeyError("in the block")

        with pytest.raises(KeyError):
            await fails_in_the_block()
        assert (await stored(sim)).b == "despite the error"


async def test_observe_channel_keeps_a_record_per_group_and_per_private_chat(
    storage_url: str,
) -> None:
    async with Simulator(plugins=[Notebook], storage=storage_url) as sim:
        alice, bob, g1 = sim.user("alice"), sim.user("bob"), sim.user("g1")
        await sim.send(alice, "/note hello", group="g1")
        await sim.send(bob, "/note hi", group="g1")
        await sim.send(alice, "/note secret")
        await sim.send(bob, "/note psst")
        await sim.send(g1, "/note named-like-the-group")  # a user whose id is a group's
        await sim.send(alice, "/note elsewhere", group="alice")  # a group named like a user

        async def board(group: str | None, user: str | None = None) -> list[str]:
            async with sim.app.storage.channel("sim", group, Board, user_id=user) as found:
                return found.log

        assert await board("g1") == ["alice:hello", "bob:hi"]
        assert await board(None, "alice") == ["alice:secret"]
        assert await board(None, "bob") == ["bob:psst"]
        assert await board(None, "g1") == ["g1:named-like-the-group"]
        assert await board("alice") == ["alice:elsewhere"]
        # The user records are apart from all of them.
        assert (await stored(sim)).log == []
