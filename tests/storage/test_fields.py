"""Stored fields round trip on every backend: each field type, defaults, no clash between plugins,
and (on the databases that outlive the app) a second app on the same database sees the data."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from enum import IntEnum, StrEnum
from typing import Any

from pydantic import BaseModel, Field

from tests.kit import texts
from waiter_sdk import MessageEvent, Plugin, command
from waiter_sdk.storage import Counter, Fields
from waiter_sdk.testing import Simulator


class Colour(StrEnum):
    RED = "red"
    GREEN = "green"


class Level(IntEnum):
    LOW = 1
    HIGH = 3


class Address(BaseModel):
    city: str = ""
    postcode: int | None = None
    lines: list[str] = []


class Profile(Fields):
    age: int = 0
    height: float = 0.0
    name: str = ""
    active: bool = False
    nickname: str | None = None
    lucky: int | None = 7  # a default that is not None, set to None
    tags: list[str] = []  # noqa: RUF012  (pydantic copies it per instance; ruff cannot tell)
    scores: dict[str, int] = Field(default_factory=dict)
    matrix: list[list[float]] = Field(default_factory=list)
    address: Address = Address()
    born: datetime | None = None
    seen: datetime = datetime(2000, 1, 1)  # naive
    colour: Colour = Colour.RED
    level: Level = Level.LOW
    visits: Counter = 0


# Values chosen to catch lossy encodings: 64-bit limits, a float that is not short in decimal,
# quotes, newlines and characters outside the BMP, an aware datetime with microseconds.
SET: dict[str, Any] = {
    "age": 2**63 - 1,
    "height": 1 / 3,
    "name": 'Zoë "🙂"\n\t\\ 李',
    "active": True,
    "nickname": "",
    "lucky": None,
    "tags": ["a", "", "c"],
    "scores": {"x": -(2**63), "": 0, "é": 1},
    "matrix": [[0.1, -2.5e-300], [], [1e300]],
    "address": Address(city="Paris", postcode=75001, lines=["1 rue", "x"]),
    "born": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=8))),
    "seen": datetime(2026, 3, 4, 5, 6, 7, 1),
    "colour": Colour.GREEN,
    "level": Level.HIGH,
}


class Profiles(Plugin):
    name = "profiles"
    user_fields = Profile

    @command("set")
    async def set_all(self, event: MessageEvent) -> None:
        profile = await event.observe_user(Profile)
        for name, value in SET.items():
            setattr(profile, name, value)
        profile.visits += 2
        await event.send("set")

    @command("mutate")
    async def mutate(self, event: MessageEvent) -> None:
        # Changed in place, not assigned: still written back (the dump differs from the load).
        profile = await event.observe_user()
        profile.tags.append("d")
        profile.scores["x"] += 1
        profile.address.lines.append("y")
        profile.matrix[1].append(4.0)
        await event.send("mutated")

    @command("tag")
    async def tag(self, event: MessageEvent) -> None:
        profile = await event.observe_user(Profile)
        profile.tags.append(event.args[0])
        profile.address.lines.append(event.args[0])

    @command("show")
    async def show(self, event: MessageEvent) -> None:
        profile = await event.observe_user(Profile)
        await event.send(profile.model_dump_json())


async def stored_profile(sim: Simulator, user_id: str) -> Profile:
    async with sim.app.storage.user("sim", user_id, Profile) as profile:
        return profile


async def test_every_field_type_round_trips(storage_url: str) -> None:
    async with Simulator(plugins=[Profiles], storage=storage_url) as sim:
        assert texts(await sim.send(sim.user("alice"), "/set", group="g1")) == ["set"]
        loaded = await stored_profile(sim, "alice")
        assert loaded.model_dump() == {**Profile().model_dump(), **_dumped(SET), "visits": 2}
        # The types come back too, not only equal values.
        assert type(loaded.active) is bool
        assert loaded.colour is Colour.GREEN and loaded.level is Level.HIGH
        assert isinstance(loaded.address, Address)
        assert loaded.born is not None and loaded.born.utcoffset() == timedelta(hours=8)
        assert loaded.seen.tzinfo is None
        # And a handler that reads them sends what was stored.
        (shown,) = texts(await sim.send(sim.user("alice"), "/show", group="g1"))
        assert Profile.model_validate_json(shown).model_dump() == loaded.model_dump()


async def test_changes_made_in_place_are_written_back(storage_url: str) -> None:
    async with Simulator(plugins=[Profiles], storage=storage_url) as sim:
        await sim.send(sim.user("alice"), "/set")
        assert texts(await sim.send(sim.user("alice"), "/mutate")) == ["mutated"]
        loaded = await stored_profile(sim, "alice")
        assert loaded.tags == ["a", "", "c", "d"]
        assert loaded.scores["x"] == -(2**63) + 1
        assert loaded.address.lines == ["1 rue", "x", "y"]
        assert loaded.matrix == [[0.1, -2.5e-300], [4.0], [1e300]]


async def test_a_new_user_gets_the_defaults_and_defaults_are_not_shared(storage_url: str) -> None:
    async with Simulator(plugins=[Profiles], storage=storage_url) as sim:
        (shown,) = texts(await sim.send(sim.user("bob"), "/show"))
        assert Profile.model_validate_json(shown).model_dump() == Profile().model_dump()
        # Alice's in-place changes to a list default must not leak into bob's or carol's.
        await sim.send(sim.user("alice"), "/tag x")
        assert (await stored_profile(sim, "alice")).tags == ["x"]
        assert (await stored_profile(sim, "bob")).model_dump() == Profile().model_dump()
        (shown,) = texts(await sim.send(sim.user("carol"), "/show"))
        assert Profile.model_validate_json(shown).model_dump() == Profile().model_dump()
        assert Profile().tags == [] and Profile().address.lines == []


# --- two plugins, same field names ------------------------------------------------------------


class ScoreA(Fields):
    score: int = 0
    points: Counter = 0


class ScoreB(Fields):
    score: int = 0
    points: Counter = 0


class ChannelA(Fields):
    score: int = 0


class PlayerA(Plugin):
    name = "player-a"
    user_fields = ScoreA
    channel_fields = ChannelA

    @command("a")
    async def a(self, event: MessageEvent) -> None:
        mine = await event.observe_user()
        here = await event.observe_channel()
        mine.score = int(event.args[0])
        mine.points += 1
        here.score = -int(event.args[0])
        await event.send(f"a {mine.score}")


class PlayerB(Plugin):
    name = "player-b"
    user_fields = ScoreB

    @command("b")
    async def b(self, event: MessageEvent) -> None:
        mine = await event.observe_user()
        mine.score = int(event.args[0])
        mine.points += 10
        await self.kv.put("score", mine.score)
        await event.send(f"b {mine.score}")


async def test_two_plugins_with_the_same_field_names_keep_their_own_values(
    storage_url: str,
) -> None:
    async with Simulator(plugins=[PlayerA, PlayerB], storage=storage_url) as sim:
        alice = sim.user("alice")
        assert texts(await sim.send(alice, "/a 5", group="alice")) == ["a 5"]
        assert texts(await sim.send(alice, "/b 9", group="alice")) == ["b 9"]
        await sim.send(alice, "/a 6", group="alice")
        storage = sim.app.storage
        async with storage.user("sim", "alice", ScoreA) as a:
            assert (a.score, a.points) == (6, 2)
        async with storage.user("sim", "alice", ScoreB) as b:
            assert (b.score, b.points) == (9, 10)
        # A group named like a user: its channel record is not the user's record.
        async with storage.channel("sim", "alice", ChannelA) as channel:
            assert channel.score == -6
        assert await sim.app.plugins["player-b"].kv.get("score") == 9
        assert await sim.app.plugins["player-a"].kv.get("score") is None


# --- a second app on the same database ---------------------------------------------------------


class Clubs(Plugin):
    name = "clubs"

    class Member(Fields):
        joined: int = 0
        role: str = "guest"

    class Club(Fields):
        members: list[str] = Field(default_factory=list)
        posts: Counter = 0

    user_fields = Member
    channel_fields = Club

    @command("join")
    async def join(self, event: MessageEvent) -> None:
        member = await event.observe_user(self.Member)
        club = await event.observe_channel(self.Club)
        member.joined += 1
        member.role = event.args[0]
        club.members.append(event.sender_id)
        club.posts += 1
        await self.put_kv_data("last", {"who": event.sender_id, "where": event.group_id})
        await self.kv.increment("joins")

    @command("who")
    async def who(self, event: MessageEvent) -> None:
        member = await event.observe_user(self.Member)
        club = await event.observe_channel(self.Club)
        last = await self.get_kv_data("last")
        joins = await self.kv.get("joins", 0)
        await event.send(
            f"{member.role} x{member.joined}; {','.join(club.members)} ({club.posts}); "
            f"last {last}; joins {joins}"
        )


async def test_a_second_app_on_the_same_database_sees_the_data(durable_storage_url: str) -> None:
    async with Simulator(plugins=[Clubs, Profiles], storage=durable_storage_url) as sim:
        await sim.send(sim.user("alice"), "/join admin", group="g1")
        await sim.send(sim.user("bob"), "/join guest", group="g1")
        await sim.send(sim.user("alice"), "/join owner", group="g2")
        await sim.send(sim.user("alice"), "/set", group="g1")
    async with Simulator(plugins=[Clubs, Profiles], storage=durable_storage_url) as sim:
        out = await sim.send(sim.user("alice"), "/who", group="g1")
        assert texts(out) == [
            "owner x2; alice,bob (2); last {'who': 'alice', 'where': 'g2'}; joins 3"
        ]
        loaded = await stored_profile(sim, "alice")
        assert loaded.model_dump() == {**Profile().model_dump(), **_dumped(SET), "visits": 2}
        # Written again after the restart: the counters go on from the stored values.
        await sim.send(sim.user("bob"), "/join member", group="g2")
        out = await sim.send(sim.user("bob"), "/who", group="g2")
        assert texts(out) == [
            "member x2; alice,bob (2); last {'who': 'bob', 'where': 'g2'}; joins 4"
        ]


def _dumped(values: dict[str, Any]) -> dict[str, Any]:
    # What model_dump() gives for these values (nested models as dicts).
    return Profile(**values).model_dump(include=set(values))
