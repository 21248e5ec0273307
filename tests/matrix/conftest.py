"""Rigs for the Matrix tests: one real Synapse per run, human accounts driven by matrix-nio,
and an App whose ``MatrixAdapter`` logs in as the bot account.

The server and its accounts (the bot, a second bot for the rate limit, Alice, Bob, Carol) are
made once per run; every test opens rooms of its own, so tests do not see each other's talk.
A human is a ``matrix-nio`` ``AsyncClient`` with a sync task of its own that records every
timeline event; tests wait on those records with a timeout that only guards against a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from loguru import logger

from waiter_sdk import App
from waiter_sdk.adapters.matrix import MatrixAdapter, MatrixSettings
from waiter_sdk.config import Settings

from .synapse_kit import Account, Synapse, missing_synapse, synapse_missing

WAIT = 20.0  # seconds before a wait counts as a hang (a guard, never a speed assertion)

RawEvent = dict[str, Any]


@dataclass(frozen=True)
class World:
    """The running server and the accounts every test shares."""

    server: Synapse
    bot: Account
    alice: Account
    bob: Account
    carol: Account


@pytest.fixture(scope="session")
def synapse_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One Synapse per run (skipped without it, failed under CI=true), with its accounts."""
    problem = synapse_missing()
    if problem is not None:
        missing_synapse(problem)
    server = Synapse(tmp_path_factory.mktemp("synapse"))
    server.write_config()
    server.start()
    try:
        yield World(
            server,
            bot=server.register("waiterbot"),
            alice=server.register("alice"),
            bob=server.register("bob"),
            carol=server.register("carol"),
        )
    finally:
        server.stop()


@pytest.fixture
def logs() -> Iterator[list[str]]:
    """Everything waiter_sdk logs during the test, one 'LEVEL message' line each."""
    lines: list[str] = []
    logger.enable("waiter_sdk")
    sink = logger.add(lambda m: lines.append(f"{m.record['level'].name} {m.record['message']}"))
    try:
        yield lines
    finally:
        logger.remove(sink)
        logger.disable("waiter_sdk")


class Human:
    """A person at a Matrix client (matrix-nio), who reads every room they are in."""

    def __init__(self, server: Synapse, account: Account, name: str) -> None:
        from nio import AsyncClient, AsyncClientConfig

        self.account = account
        self.user_id = account.user_id
        self.name = name
        self.client = AsyncClient(
            server.url, account.user_id, config=AsyncClientConfig(encryption_enabled=False)
        )
        self.client.restore_login(account.user_id, account.device_id, account.access_token)
        self.events: dict[str, list[RawEvent]] = {}
        self.invites: list[str] = []
        self.joined: set[str] = set()  # rooms joined by this test (their invites are old news)
        self._seen: dict[str, int] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from nio import SyncError

        # Where the account is now: what happened before this test is not this test's.
        first = await self.client.sync(timeout=0, sync_filter={"room": {"timeline": {"limit": 1}}})
        assert not isinstance(first, SyncError), first
        await self.client.set_displayname(self.name)
        self._task = asyncio.create_task(self._sync_forever())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()

    async def _sync_forever(self) -> None:
        from nio import SyncError

        while True:
            response = await self.client.sync(timeout=10_000)
            if isinstance(response, SyncError):
                raise AssertionError(f"{self.name} cannot sync: {response}")
            for room_id, room in response.rooms.join.items():
                self.events.setdefault(room_id, []).extend(e.source for e in room.timeline.events)
            self.invites.extend(response.rooms.invite)
            self._changed.set()
            self._changed = asyncio.Event()

    # --- acting --------------------------------------------------------------------------------

    async def create_room(self, invite: list[str], *, direct: bool = False) -> str:
        from nio import RoomCreateError, RoomPreset

        response = await self.client.room_create(
            is_direct=direct,
            invite=invite,
            preset=RoomPreset.trusted_private_chat if direct else RoomPreset.private_chat,
            federate=False,
        )
        assert not isinstance(response, RoomCreateError), response
        return str(response.room_id)

    async def join(self, room_id: str) -> None:
        from nio import JoinError

        response = await self.client.join(room_id)
        assert not isinstance(response, JoinError), response
        self.joined.add(room_id)

    async def say(
        self, room_id: str, text: str, *, reply_to: str | None = None, **extra: Any
    ) -> str:
        """Send a text message (a quote-reply when ``reply_to`` is given); its event id."""
        from nio import RoomSendError

        content: dict[str, Any] = {"msgtype": "m.text", "body": text, **extra}
        if reply_to is not None:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        response = await self.client.room_send(room_id, "m.room.message", content)
        assert not isinstance(response, RoomSendError), response
        return str(response.event_id)

    # --- reading -------------------------------------------------------------------------------

    async def wait_event(
        self, room_id: str, matches: Callable[[RawEvent], bool], within: float = WAIT
    ) -> RawEvent:
        """The next event of ``room_id`` (after the last one returned) that ``matches``."""
        async with asyncio.timeout(within):
            while True:
                events = self.events.get(room_id, [])
                start = self._seen.get(room_id, 0)
                for index in range(start, len(events)):
                    if matches(events[index]):
                        self._seen[room_id] = index + 1
                        return events[index]
                if self._task is not None and self._task.done():
                    self._task.result()  # the sync task failed: say why
                await self._changed.wait()

    async def next_from(self, room_id: str, sender: str, within: float = WAIT) -> RawEvent:
        """The next message that ``sender`` sent in ``room_id``."""
        return await self.wait_event(
            room_id,
            lambda e: e.get("type") == "m.room.message" and e.get("sender") == sender,
            within,
        )

    async def next_text(self, room_id: str, sender: str, within: float = WAIT) -> str:
        return str((await self.next_from(room_id, sender, within))["content"].get("body"))

    async def wait_joined(self, room_id: str, user_id: str, within: float = WAIT) -> None:
        """Wait until this client has seen ``user_id`` join ``room_id``."""
        if user_id == self.user_id:
            return

        def joined(event: RawEvent) -> bool:
            return (
                event.get("type") == "m.room.member"
                and event.get("state_key") == user_id
                and event.get("content", {}).get("membership") == "join"
            )

        async with asyncio.timeout(within):
            while not any(joined(e) for e in self.events.get(room_id, [])):
                await self._changed.wait()

    async def wait_invited(self, within: float = WAIT) -> str:
        """The next room this account was invited to."""
        async with asyncio.timeout(within):
            while True:
                while self.invites:
                    room_id = self.invites.pop(0)
                    if room_id not in self.joined:
                        return room_id
                await self._changed.wait()


@asynccontextmanager
async def humans(world: World) -> AsyncIterator[tuple[Human, Human, Human]]:
    people = (
        Human(world.server, world.alice, "Alice"),
        Human(world.server, world.bob, "Bob"),
        Human(world.server, world.carol, "Carol"),
    )
    try:
        await asyncio.gather(*(person.start() for person in people))
        yield people
    finally:
        await asyncio.gather(*(person.close() for person in people))


@dataclass
class Bot:
    app: App
    adapter: MatrixAdapter
    opened: asyncio.Queue[str]

    async def session_opened(self, within: float = WAIT) -> str:
        """Wait until a handler opened its session (the key), so the next message is its."""
        async with asyncio.timeout(within):
            return await self.opened.get()


def bot_settings(world: World, account: Account | None = None, **options: Any) -> MatrixSettings:
    account = account or world.bot
    values: dict[str, Any] = {
        "homeserver": world.server.url,
        "access_token": account.access_token,
        "sync_timeout": 10.0,
        "reconnect_interval": 0.05,
        "reconnect_max": 0.5,
    }
    values.update(options)
    return MatrixSettings(**values)


@asynccontextmanager
async def bot(
    world: World,
    plugins: list[Any] | tuple[Any, ...] = (),
    *,
    storage: str = "memory",
    account: Account | None = None,
    **options: Any,
) -> AsyncIterator[Bot]:
    """An App with the Matrix adapter as the bot account, synced once before it is yielded."""
    adapter = MatrixAdapter(bot_settings(world, account, **options))
    app = App(settings=Settings(storage=storage), plugins=plugins, adapters=[adapter])
    try:
        await app.start()
        await adapter.wait_synced(WAIT)
        opened: asyncio.Queue[str] = asyncio.Queue()
        app.listen("session_opened", lambda session: opened.put_nowait(session.key))
        yield Bot(app, adapter, opened)
    finally:
        await app.stop()


async def group_room(
    world: World, owner: Human, others: list[Human], *, with_bot: bool = True
) -> str:
    """A room ``owner`` made, that ``others`` and the bot joined; every join seen by ``owner``."""
    invite = [h.user_id for h in others] + ([world.bot.user_id] if with_bot else [])
    room = await owner.create_room(invite)
    for person in others:
        await person.join(room)
    for user in invite:
        await owner.wait_joined(room, user)
    return room
