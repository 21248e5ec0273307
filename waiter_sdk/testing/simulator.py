"""``Simulator``: an app, a fake platform and a virtual clock, for tests of plugins.

Usage::

    async with Simulator(plugins=[Parrot]) as sim:
        alice = sim.user("alice")
        out = await sim.send(alice, "/parrot", group="g1")
        assert [o.text for o in out] == ["Say something; q to stop."]
        out = await sim.advance(21)          # a 20 s timeout, in no real time

A simulator never hides a failure: a handler, waiter, filter or listener that raises while it
runs is raised again from the ``send`` / ``advance`` / ``settle`` that caused it (or from
``stop()`` if nothing else did), unless the test says it expects them (``raise_errors=False``,
then read ``sim.errors``).
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from ..adapters.base import Adapter
from ..app import App
from ..config import Settings
from ..events import (
    Event,
    MessageChain,
    MessageEvent,
    NoticeEvent,
    Reply,
    RequestEvent,
    Target,
)
from ..plugins.loader import PluginSpec
from .clock import VirtualClock

__all__ = ["EPOCH", "Outgoing", "SimUser", "Simulator", "SimulatorAdapter"]

EPOCH = 1_767_225_600.0
"""Unix time of virtual time 0 (2026-01-01T00:00:00Z): events are stamped ``EPOCH + sim.time()``."""


@dataclass(frozen=True, slots=True)
class SimUser:
    """A person talking to the bot in the simulator."""

    user_id: str
    nickname: str
    role: str | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message the bot sent. ``user_id`` is set for private messages only.

    ``at`` is when it was sent, on the virtual clock (``sim.time()``).
    """

    text: str
    chain: MessageChain
    group_id: str | None
    user_id: str | None
    message_id: str
    reply_to: str | None = None
    at: float = 0.0


@dataclass
class SimulatorAdapter(Adapter):
    """The fake platform: records what the bot sends and gives each message an id."""

    platform: str = "sim"
    self_id: str = "bot"
    outbox: list[Outgoing] = field(default_factory=list)
    fail_next: list[BaseException] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _clock: VirtualClock | None = None

    async def start(self, app: App) -> None:
        self.app = app

    async def stop(self) -> None:
        return None

    def next_id(self) -> str:
        return str(next(self._ids))

    async def send(
        self, target: Target, chain: MessageChain, *, reply_to: str | None = None
    ) -> str:
        if self.fail_next:
            raise self.fail_next.pop(0)
        quoted = reply_to
        if quoted is None:
            for component in chain:
                if isinstance(component, Reply):
                    quoted = component.message_id
                    break
        message_id = self.next_id()
        self.outbox.append(
            Outgoing(
                text=chain.plain_text,
                chain=chain,
                group_id=target.group_id,
                user_id=target.user_id if target.group_id is None else None,
                message_id=message_id,
                reply_to=quoted,
                at=self._clock.time() if self._clock is not None else 0.0,
            )
        )
        return message_id


class Simulator:
    """Runs plugins against a fake platform in virtual time."""

    def __init__(
        self,
        plugins: Iterable[PluginSpec] = (),
        settings: Settings | None = None,
        *,
        platform: str = "sim",
        self_id: str = "bot",
        strict: bool = True,
        raise_errors: bool = True,
        epoch: float = EPOCH,
        storage: str = "memory",
    ) -> None:
        self.adapter = SimulatorAdapter(platform=platform, self_id=self_id)
        settings = settings if settings is not None else Settings.load()
        # Stored fields live in memory unless the test asks for a database: "sqlite" is a new
        # file in a temporary directory (removed at stop), any other address is used as given.
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        if storage == "sqlite":
            self._tempdir = tempfile.TemporaryDirectory(prefix="waiter-sim-")
            settings = settings.model_copy(
                update={"storage": "sqlite", "data_dir": Path(self._tempdir.name)}
            )
        else:
            settings = settings.model_copy(update={"storage": storage})
        self.app = App(settings=settings, plugins=plugins, adapters=[self.adapter])
        self.strict = strict
        self.raise_errors = raise_errors
        self.epoch = epoch
        # Every failure the app logged and survived, in order; the ones not raised yet.
        self.errors: list[BaseException] = []
        self._unraised: list[BaseException] = []
        self.app.listen("error", self._failed)
        self.clock: VirtualClock | None = None
        self._holds_clock = False
        self._users: dict[str, SimUser] = {}
        self._unwait: Callable[[], None] = lambda: None

    # --- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # A test that is already failing keeps its own exception; the others are in sim.errors.
        await self.stop(raise_errors=exc_info[0] is None)

    async def start(self) -> None:
        # One clock per loop: a second simulator in the same test shares the first one's.
        self.clock = VirtualClock.install()
        self._holds_clock = True
        self.adapter._clock = self.clock
        self._unwait = self.clock.wait_for(self.app.storage.pending)
        try:
            await self.app.start()
            await self.clock.settle()
            if self.strict and self.app.plugin_errors:
                raise self.app.plugin_errors[0]
        except BaseException:
            await self.stop(raise_errors=False)
            raise

    async def stop(self, *, raise_errors: bool = True) -> None:
        """Stop the app; then raise what failed and was not raised yet (see ``raise_errors``)."""
        try:
            if self._holds_clock and self.clock is not None:
                # Stopping gives goodbyes a grace period: in virtual time it has to be let pass.
                await self.clock.run(self.app.stop())
            else:
                await self.app.stop()
        finally:
            if self._holds_clock and self.clock is not None:
                self._holds_clock = False
                self._unwait()
                self.clock.uninstall()
            if self._tempdir is not None:
                self._tempdir.cleanup()
                self._tempdir = None
        if raise_errors:
            self._raise_failures()

    def _failed(self, exc: BaseException) -> None:
        self.errors.append(exc)
        if self.raise_errors:
            self._unraised.append(exc)

    def _raise_failures(self) -> None:
        failures, self._unraised = self._unraised, []
        if len(failures) == 1:
            raise failures[0]
        if failures:
            raise ExceptionGroup(
                f"{len(failures)} handlers, waiters or listeners raised in the simulator",
                [f if isinstance(f, Exception) else RuntimeError(repr(f)) for f in failures],
            )

    # --- people and time ---------------------------------------------------------------

    @property
    def outbox(self) -> list[Outgoing]:
        return self.adapter.outbox

    def time(self) -> float:
        """Now, on the virtual clock: seconds since it started (at 0.0). It is the loop's clock,
        so deadlines (``controller.deadline``) and ``Outgoing.at`` read on it."""
        return self._clock().time()

    def _clock(self) -> VirtualClock:
        if self.clock is None:
            raise RuntimeError("the simulator is not started; use 'async with Simulator(...)'")
        return self.clock

    def user(self, user_id: str, nickname: str | None = None, role: str | None = None) -> SimUser:
        """The user ``user_id`` (created on first use)."""
        user = self._users.get(user_id)
        if user is None or (nickname is not None and user.nickname != nickname):
            user = SimUser(str(user_id), nickname if nickname is not None else str(user_id), role)
            self._users[user_id] = user
        return user

    def message(
        self,
        user: SimUser,
        message: str | MessageChain,
        group: str | None = None,
        reply_to: str | None = None,
        to_me: bool = False,
    ) -> MessageEvent:
        """Build (not send) the event for ``user`` saying ``message``."""
        chain = message if isinstance(message, MessageChain) else MessageChain([message])
        if reply_to is None:
            for component in chain:
                if isinstance(component, Reply):
                    reply_to = component.message_id
                    break
        elif not any(isinstance(c, Reply) for c in chain):
            chain = MessageChain([Reply(reply_to), *chain])
        return MessageEvent(
            platform=self.adapter.platform,
            self_id=self.adapter.self_id,
            message=chain,
            message_id=self.adapter.next_id(),
            sender_id=user.user_id,
            sender_name=user.nickname,
            sender_role=user.role if group is not None else None,
            group_id=str(group) if group is not None else None,
            reply_to=str(reply_to) if reply_to is not None else None,
            to_me=to_me or group is None,
            timestamp=self.epoch + self.time(),
            adapter=self.adapter,
        )

    async def send(
        self,
        user: SimUser,
        message: str | MessageChain,
        group: str | None = None,
        reply_to: str | None = None,
    ) -> list[Outgoing]:
        """Deliver one message and return what the bot sent until the app is idle again."""
        return await self.dispatch(self.message(user, message, group, reply_to))

    async def dispatch(self, event: Event) -> list[Outgoing]:
        """Deliver any event and return what the bot sent until the app is idle again."""
        clock = self._clock()
        mark = len(self.outbox)
        self.app.dispatch(event)
        await clock.settle()
        self._raise_failures()
        return self.outbox[mark:]

    async def notice(self, type: str, sub_type: str = "", **fields: Any) -> list[Outgoing]:
        """Deliver a notice event (``type``, ``sub_type``, ``user_id``, ``group_id``, ...)."""
        event = NoticeEvent(
            platform=self.adapter.platform,
            self_id=self.adapter.self_id,
            type=type,
            sub_type=sub_type,
            user_id=fields.pop("user_id", None),
            group_id=fields.pop("group_id", None),
            raw=fields,
            adapter=self.adapter,
        )
        return await self.dispatch(event)

    async def request(self, type: str, sub_type: str = "", **fields: Any) -> list[Outgoing]:
        """Deliver a request event (friend or group request)."""
        event = RequestEvent(
            platform=self.adapter.platform,
            self_id=self.adapter.self_id,
            type=type,
            sub_type=sub_type,
            user_id=fields.pop("user_id", None),
            group_id=fields.pop("group_id", None),
            comment=fields.pop("comment", ""),
            flag=fields.pop("flag", ""),
            raw=fields,
            adapter=self.adapter,
        )
        return await self.dispatch(event)

    async def advance(self, seconds: float) -> list[Outgoing]:
        """Move virtual time forward, firing every timer due; returns what the bot sent."""
        clock = self._clock()
        mark = len(self.outbox)
        await clock.advance(seconds)
        self._raise_failures()
        return self.outbox[mark:]

    async def settle(self) -> list[Outgoing]:
        """Let the app finish what it is doing now; returns what it sent meanwhile."""
        mark = len(self.outbox)
        await self._clock().settle()
        self._raise_failures()
        return self.outbox[mark:]
