"""Schema checks: a plugin whose fields disagree with the database (a field removed or renamed)
is refused at load, naming the `waiter-sdk storage rename/drop` command; an added field with a
default is fine; a field without a default is refused when the plugin is declared."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pydantic import Field

from tests.kit import texts
from waiter_sdk import MessageEvent, Plugin, command
from waiter_sdk.config import Settings
from waiter_sdk.exceptions import PluginError, SchemaError
from waiter_sdk.storage import Counter, Fields
from waiter_sdk.testing import Simulator

# Successive versions of one plugin's user fields. Each is its own class (a model belongs to
# one plugin), and each plugin class below is "profile" with one of them.


class V1(Fields):
    name: str = ""
    mood: str = "calm"
    posts: Counter = 0


class Removed(Fields):  # V1 without mood
    name: str = ""
    posts: Counter = 0


class Renamed(Fields):  # V1 with mood renamed to feeling (the same type)
    name: str = ""
    feeling: str = "calm"
    posts: Counter = 0


class Added(Fields):  # V1 and two new fields with defaults
    name: str = ""
    mood: str = "calm"
    posts: Counter = 0
    level: int = 7
    badges: list[str] = Field(default_factory=list)


def profile_plugin(model: type[Fields]) -> type[Plugin]:
    class Profile(Plugin):
        name = "profile"
        user_fields = model

        @command("profile")
        async def profile(self, event: MessageEvent) -> None:
            fields = await event.observe_user()
            for arg in event.args:  # /profile name=Alice mood=happy
                key, _, value = arg.partition("=")
                setattr(fields, key, value)
            if event.args:
                fields.posts += 1
            await event.send(repr(fields.model_dump()))

    return Profile


class Plain(Plugin):
    name = "plain"

    @command("ping")
    async def ping(self, event: MessageEvent) -> None:
        await event.send("pong")


async def first_version(url: str) -> None:
    async with Simulator(plugins=[profile_plugin(V1)], storage=url) as sim:
        out = await sim.send(sim.user("alice"), "/profile name=Alice mood=happy")
        assert texts(out) == [repr({"name": "Alice", "mood": "happy", "posts": 1})]
        # Bob's record holds no mood: only changed fields are written.
        await sim.send(sim.user("bob"), "/profile name=Bob")


async def test_a_removed_field_is_refused_at_load_naming_the_drop_command(
    durable_storage_url: str,
) -> None:
    await first_version(durable_storage_url)
    plugins = [profile_plugin(Removed), Plain]
    async with Simulator(plugins=plugins, storage=durable_storage_url, strict=False) as sim:
        (error,) = sim.app.plugin_errors
        assert isinstance(error, PluginError)
        message = str(error)
        assert "plugin profile" in message and "'mood'" in message
        assert "waiter-sdk storage drop profile user mood" in message
        assert "waiter-sdk storage rename profile user mood" in message
        # The plugin does not run on that data; the others do.
        assert "profile" not in sim.app.plugins
        assert await sim.send(sim.user("alice"), "/profile") == []
        assert texts(await sim.send(sim.user("alice"), "/ping")) == ["pong"]
    # Nothing was lost: the first version still finds its data.
    async with Simulator(plugins=[profile_plugin(V1)], storage=durable_storage_url) as sim:
        out = await sim.send(sim.user("alice"), "/profile")
        assert texts(out) == [repr({"name": "Alice", "mood": "happy", "posts": 1})]


async def test_a_strict_app_refuses_to_start_on_a_removed_field(durable_storage_url: str) -> None:
    await first_version(durable_storage_url)
    with pytest.raises(PluginError, match="waiter-sdk storage drop profile user mood"):
        async with Simulator(plugins=[profile_plugin(Removed)], storage=durable_storage_url):
            pass


async def test_a_renamed_field_is_refused_with_a_guess_and_rename_keeps_its_data(
    durable_storage_url: str,
) -> None:
    await first_version(durable_storage_url)
    async with Simulator(
        plugins=[profile_plugin(Renamed)], storage=durable_storage_url, strict=False
    ) as sim:
        (error,) = sim.app.plugin_errors
        message = str(error)
        assert "Was it renamed to 'feeling'?" in message
        assert "waiter-sdk storage rename profile user mood feeling" in message
        # What that command does, through the app's storage.
        assert await sim.app.storage.rename_field("profile", "user", "mood", "feeling") == 1
    async with Simulator(plugins=[profile_plugin(Renamed)], storage=durable_storage_url) as sim:
        out = await sim.send(sim.user("alice"), "/profile")
        assert texts(out) == [repr({"name": "Alice", "feeling": "happy", "posts": 1})]


async def test_a_dropped_field_lets_the_plugin_load_without_it(durable_storage_url: str) -> None:
    await first_version(durable_storage_url)
    async with Simulator(plugins=[Plain], storage=durable_storage_url) as sim:
        assert await sim.app.storage.drop_field("profile", "user", "mood") == 1
        assert await sim.app.storage.fields("profile", "user") == {
            "name": "str",
            "posts": "Counter",
        }
    async with Simulator(plugins=[profile_plugin(Removed)], storage=durable_storage_url) as sim:
        out = await sim.send(sim.user("alice"), "/profile")
        assert texts(out) == [repr({"name": "Alice", "posts": 1})]
    # Declared again later, the dropped field starts from its default.
    async with Simulator(plugins=[profile_plugin(V1)], storage=durable_storage_url) as sim:
        out = await sim.send(sim.user("alice"), "/profile")
        assert texts(out) == [repr({"name": "Alice", "mood": "calm", "posts": 1})]


class Visits(Plugin):
    name = "visits"

    @command("visit")
    async def visit(self, event: MessageEvent) -> None:
        await event.send(f"visit {await self.kv.increment('visits')}")


async def test_a_disagreement_found_after_load_fails_only_that_plugins_fields(
    tmp_path: Path,
) -> None:
    # The database is locked while the plugins load, so their schemas are checked on the
    # first call after it comes back. One plugin's removed field must not fail the others.
    path = tmp_path / "bot.db"
    url = f"sqlite:///{path}"
    await first_version(url)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("PRAGMA journal_mode=DELETE")  # so that the lock keeps readers out too
        other.execute("BEGIN EXCLUSIVE")
        async with Simulator(
            plugins=[profile_plugin(Removed), Visits, Plain],
            settings=Settings.load(storage_timeout=0.2),
            storage=url,
            raise_errors=False,
        ) as sim:
            assert sim.app.plugin_errors == []  # could not be checked: loaded, checked later
            other.execute("ROLLBACK")
            alice = sim.user("alice")
            assert texts(await sim.send(alice, "/visit")) == ["visit 1"]
            assert await sim.send(alice, "/profile name=Al") == []
            assert texts(await sim.send(alice, "/visit")) == ["visit 2"]
            assert texts(await sim.send(alice, "/ping")) == ["pong"]
            (error,) = sim.errors
            assert isinstance(error, SchemaError)
            assert "waiter-sdk storage drop profile user mood" in str(error)
            # Resolved while the bot runs, the plugin's fields work again.
            assert await sim.app.storage.drop_field("profile", "user", "mood") == 1
            out = await sim.send(alice, "/profile name=Al")
            assert texts(out) == [repr({"name": "Al", "posts": 2})]
            assert len(sim.errors) == 1
    finally:
        other.close()


async def test_an_added_field_with_a_default_works_on_an_existing_database(
    durable_storage_url: str,
) -> None:
    await first_version(durable_storage_url)
    async with Simulator(plugins=[profile_plugin(Added)], storage=durable_storage_url) as sim:
        assert sim.app.plugin_errors == []
        out = await sim.send(sim.user("alice"), "/profile name=Ally")
        assert texts(out) == [
            repr({"name": "Ally", "mood": "happy", "posts": 2, "level": 7, "badges": []})
        ]
        assert set(await sim.app.storage.fields("profile", "user")) == {
            "name",
            "mood",
            "posts",
            "level",
            "badges",
        }


class NoDefault(Fields):
    ok: int = 0
    needed: int
    also_needed: str


class NoDefaultPlugin(Plugin):
    name = "no-default"
    channel_fields = NoDefault


class NotFields(Plugin):
    name = "not-fields"
    user_fields = dict  # type: ignore[assignment]


async def test_a_field_without_a_default_is_refused_when_declared(storage_url: str) -> None:
    async with Simulator(
        plugins=[NoDefaultPlugin, NotFields, Plain], storage=storage_url, strict=False
    ) as sim:
        no_default, not_fields = (str(e) for e in sim.app.plugin_errors)
        assert no_default.startswith("plugin no-default: NoDefault: every stored field needs a")
        assert no_default.endswith("no default: needed, also_needed")
        assert "must subclass waiter_sdk.storage.Fields" in not_fields
        assert "no-default" not in sim.app.plugins and "not-fields" not in sim.app.plugins
        assert texts(await sim.send(sim.user("alice"), "/ping")) == ["pong"]


async def test_one_model_cannot_be_the_fields_of_two_plugins(storage_url: str) -> None:
    first = profile_plugin(V1)

    class Copycat(Plugin):
        name = "copycat"
        user_fields = V1

    async with Simulator(plugins=[first, Copycat], storage=storage_url, strict=False) as sim:
        (error,) = sim.app.plugin_errors
        assert "V1 is already the user fields of plugin profile" in str(error)
        assert "profile" in sim.app.plugins and "copycat" not in sim.app.plugins
