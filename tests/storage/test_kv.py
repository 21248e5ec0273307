"""A plugin's key-value data on every backend: JSON values round trip, each plugin has its own
keys, and AstrBot's put_kv_data / get_kv_data / delete_kv_data are the same store."""

from __future__ import annotations

from typing import Any

from tests.kit import texts
from waiter_sdk import MessageEvent, Plugin, command
from waiter_sdk.testing import Simulator

VALUES: dict[str, Any] = {
    "int": -(2**63),
    "big": 2**63 - 1,
    "float": 1 / 3,
    "str": 'Zoë "🙂"\n李',
    "empty": "",
    "true": True,
    "false": False,
    "list": [1, "two", [3.5, None], {}],
    "dict": {"nested": {"deeper": [True, {"x": -1}]}, "": "empty key", "数": 1},
    "with:colon%percent": "keys are opaque",
}


class Keeper(Plugin):
    name = "keeper"

    @command("put")
    async def put(self, event: MessageEvent) -> None:
        for key, value in VALUES.items():
            await self.kv.put(key, value)
        await event.send("put")

    @command("get")
    async def get(self, event: MessageEvent) -> None:
        await event.send(repr(await self.kv.get(event.args[0], "absent")))


class Other(Plugin):
    name = "other"

    @command("other-put")
    async def put(self, event: MessageEvent) -> None:
        await self.put_kv_data(event.args[0], event.args[1])

    @command("other-get")
    async def get(self, event: MessageEvent) -> None:
        await event.send(repr(await self.get_kv_data(event.args[0], "absent")))


def kv_of(sim: Simulator, plugin: str) -> Any:
    return sim.app.plugins[plugin].kv


async def test_json_values_round_trip(storage_url: str) -> None:
    async with Simulator(plugins=[Keeper], storage=storage_url) as sim:
        assert texts(await sim.send(sim.user("alice"), "/put")) == ["put"]
        kv = kv_of(sim, "keeper")
        for key, value in VALUES.items():
            got = await kv.get(key)
            assert got == value and type(got) is type(value), key
        assert await kv.keys() == sorted(VALUES)
        assert texts(await sim.send(sim.user("alice"), "/get dict")) == [repr(VALUES["dict"])]


async def test_missing_keys_give_the_default_and_a_stored_none_is_not_missing(
    storage_url: str,
) -> None:
    async with Simulator(plugins=[Keeper], storage=storage_url) as sim:
        kv = kv_of(sim, "keeper")
        assert await kv.get("nothing") is None
        assert await kv.get("nothing", 5) == 5
        await kv.put("none", None)
        assert await kv.get("none", 5) is None
        assert await kv.keys() == ["none"]


async def test_put_replaces_delete_removes_and_tuples_come_back_as_lists(storage_url: str) -> None:
    async with Simulator(plugins=[Keeper], storage=storage_url) as sim:
        kv = kv_of(sim, "keeper")
        await kv.put("k", (1, (2, 3)))
        assert await kv.get("k") == [1, [2, 3]]
        await kv.put("k", {"replaced": True})
        assert await kv.get("k") == {"replaced": True}
        assert await kv.delete("k") is True
        assert await kv.delete("k") is False
        assert await kv.get("k", "gone") == "gone"
        assert await kv.keys() == []


async def test_increment_counts_from_zero_and_by_any_int(storage_url: str) -> None:
    async with Simulator(plugins=[Keeper], storage=storage_url) as sim:
        kv = kv_of(sim, "keeper")
        assert await kv.increment("visits") == 1
        assert await kv.increment("visits", 10) == 11
        assert await kv.increment("visits", -12) == -1
        assert await kv.get("visits") == -1
        await kv.put("set", 40)
        assert await kv.increment("set", 2) == 42


async def test_each_plugin_has_its_own_keys(storage_url: str) -> None:
    async with Simulator(plugins=[Keeper, Other], storage=storage_url) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/put")
        await sim.send(alice, "/other-put str mine")
        assert texts(await sim.send(alice, "/other-get str")) == ["'mine'"]
        assert texts(await sim.send(alice, "/get str")) == [repr(VALUES["str"])]
        assert texts(await sim.send(alice, "/other-get int")) == ["'absent'"]
        assert await kv_of(sim, "other").keys() == ["str"]
        await kv_of(sim, "other").delete("str")
        assert await kv_of(sim, "keeper").get("str") == VALUES["str"]


async def test_astrbot_names_reach_the_same_store(storage_url: str) -> None:
    async with Simulator(plugins=[Other], storage=storage_url) as sim:
        plugin = sim.app.plugins["other"]
        await plugin.put_kv_data("k", {"v": 1})
        assert await plugin.kv.get("k") == {"v": 1}
        assert await plugin.get_kv_data("k") == {"v": 1}
        assert await plugin.get_kv_data("missing", "dflt") == "dflt"
        await plugin.delete_kv_data("k")
        await plugin.delete_kv_data("k")  # deleting what is not there is no error
        assert await plugin.kv.keys() == []


class OnLoad(Plugin):
    name = "onload"

    async def on_load(self) -> None:
        # Key-value data needs no handler around it: on_load may use it.
        await self.kv.put("loaded", (await self.kv.get("loaded", 0)) + 1)


async def test_on_load_can_use_kv_and_the_next_app_sees_it(durable_storage_url: str) -> None:
    seen = []
    for _ in range(2):
        async with Simulator(plugins=[OnLoad], storage=durable_storage_url) as sim:
            seen.append(await kv_of(sim, "onload").get("loaded"))
    assert seen == [1, 2]
