"""Routing: the raw-id pre-check never turns away an event that a session's filter would take."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from waiter_sdk import (
    GroupSessionFilter,
    MessageEvent,
    SenderSessionFilter,
    SessionController,
    SessionFilter,
    UserSessionFilter,
    session_waiter,
)
from waiter_sdk.config import Settings
from waiter_sdk.events import to_chain
from waiter_sdk.testing import Simulator


class ByName(SenderSessionFilter):
    """A subclass with a filter of its own: sessions follow the sender's name, not their id."""

    def filter(self, event: MessageEvent) -> str:
        return f"by-name|{event.sender_name}"


class Everyone(SessionFilter):
    def filter(self, event: MessageEvent) -> str:
        return "everyone"


@pytest.fixture
async def sim() -> Any:
    async with Simulator(settings=Settings.load(session={"order_window": 0})) as sim:
        yield sim


def open_with(sim: Simulator, flt: SessionFilter, user: str, group: str | None) -> list[str]:
    seen: list[str] = []

    @session_waiter(timeout=60)
    async def waiter(controller: SessionController, event: MessageEvent) -> None:
        seen.append(f"{event.sender_id}:{event.message_str}")

    event = sim.message(sim.user(user), "open", group=group)
    event._context = sim.app
    asyncio.ensure_future(waiter(event, flt))
    return seen


@pytest.mark.parametrize(
    ("flt", "opener", "group", "sender", "to_group", "reaches"),
    [
        (SenderSessionFilter(), "alice", "g", "alice", "g", True),
        (SenderSessionFilter(), "alice", "g", "bob", "g", False),
        (GroupSessionFilter(), "alice", "g", "bob", "g", True),
        (GroupSessionFilter(), "alice", None, "alice", None, True),
        (UserSessionFilter(), "alice", "g", "alice", None, True),
        (ByName(), "alice", "g", "alice2", "h", True),  # same display name, other id
        (Everyone(), "alice", None, "bob", "h", True),
    ],
)
async def test_each_filter_kind_routes_past_the_precheck(
    sim: Simulator,
    flt: SessionFilter,
    opener: str,
    group: str | None,
    sender: str,
    to_group: str | None,
    reaches: bool,
) -> None:
    sim.user("alice2", nickname="alice")
    seen = open_with(sim, flt, opener, group)
    await sim.settle()
    await sim.send(sim.user(sender), "hi", group=to_group)
    assert seen == ([f"{sender}:hi"] if reaches else [])


async def test_builtin_and_custom_filters_together_and_counts_return_to_zero(
    sim: Simulator,
) -> None:
    registry = sim.app.session_registry
    sender = open_with(sim, SenderSessionFilter(), "alice", "g")
    group = open_with(sim, GroupSessionFilter(), "bob", "h")
    await sim.settle()
    assert registry._ids == {"alice": 1, "h": 1} and registry._custom == 0
    await sim.send(sim.user("carol"), "chat", group="g")  # turned away: no key is built
    await sim.send(sim.user("carol"), "chat", group="h")
    await sim.send(sim.user("alice"), "mine", group="g")
    everyone = open_with(sim, Everyone(), "dave", None)
    await sim.settle()
    assert registry._custom == 1
    await sim.send(sim.user("erin"), "anyone", group="x")
    assert sender == ["alice:mine"]
    assert group == ["carol:chat"]
    assert everyone == ["erin:anyone"]
    for session in list(registry):
        session.stop()
    await sim.settle()
    assert registry._ids == {} and registry._custom == 0 and registry._replies == 0


# Ids that look like separators, escapes, the missing-id mark, or another id's escaped form.
TRICKY = [
    "",
    "a",
    "-",
    "|",
    "\\",
    "\\!",
    "\\-",
    "a|b",
    "b|a",
    "|a",
    "a|",
    "a\\!b",
    "pa",
    "|-",
    "-|",
]


def identity_of(flt: SessionFilter, event: MessageEvent) -> tuple[object, ...]:
    """What a filter must tell apart: equal keys exactly when these are equal."""
    head = (event.platform, event.self_id)
    if isinstance(flt, GroupSessionFilter):
        chat = ("g", event.group_id) if event.group_id is not None else ("p", event.sender_id)
        return (*head, *chat)
    if isinstance(flt, UserSessionFilter):
        return (*head, event.sender_id)
    return (*head, event.group_id, event.sender_id)


@pytest.mark.parametrize("flt", [SenderSessionFilter(), GroupSessionFilter(), UserSessionFilter()])
def test_no_ids_make_the_key_of_another_conversation(flt: SessionFilter) -> None:
    keys: dict[str, tuple[object, ...]] = {}
    for platform, self_id, group, sender in itertools.product(
        TRICKY, TRICKY, [None, *TRICKY], TRICKY
    ):
        event = MessageEvent(
            platform=platform,
            self_id=self_id,
            group_id=group,
            sender_id=sender,
            message=to_chain("x"),
            message_id="1",
        )
        identity = identity_of(flt, event)
        key = flt.filter(event)
        assert keys.setdefault(key, identity) == identity, f"{key!r} is two conversations' key"
        assert flt.filter(event) == key
