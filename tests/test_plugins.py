"""Loading plugins: specs of every kind, duplicates, broken plugins, bad handlers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from waiter_sdk import App, MessageEvent, Plugin, PluginError, command, on_message
from waiter_sdk.config import Settings
from waiter_sdk.testing import Simulator


class Weather(Plugin):
    name = "Weather"
    description = "Forecasts"

    @command("weather")
    async def weather(self, event: MessageEvent) -> None:
        await event.send("sunny")


class WeatherTwin(Plugin):
    name = "weather"  # same name, other case

    @command("forecast")
    async def forecast(self, event: MessageEvent) -> None:
        await event.send("rain")


class Thief(Plugin):
    name = "thief"

    @command("WEATHER")  # same command, other case
    async def steal(self, event: MessageEvent) -> None:
        await event.send("stolen")


class HelpThief(Plugin):
    name = "help_thief"

    @command("help")
    async def help(self, event: MessageEvent) -> None:
        await event.send("mine")


def app() -> App:
    return App(settings=Settings.load())


async def test_duplicate_plugin_name_names_both() -> None:
    async with app() as a:
        a.load_plugin(Weather)
        with pytest.raises(PluginError) as info:
            a.load_plugin(WeatherTwin)
        message = str(info.value)
        assert "'weather'" in message and "'Weather'" in message
        assert "WeatherTwin" in message and "test_plugins.Weather)" in message
        assert "weather" in a.plugins and a.plugins["weather"].__class__ is Weather


async def test_duplicate_command_names_both_plugins_and_keeps_the_first() -> None:
    async with Simulator(plugins=[Weather, Thief], strict=False) as sim:
        (error,) = sim.app.plugin_errors
        assert "'thief'" in str(error) and "'Weather'" in str(error)
        assert "thief" not in sim.app.plugins
        out = await sim.send(sim.user("a"), "/weather")
        assert [o.text for o in out] == ["sunny"]


async def test_help_cannot_be_overridden() -> None:
    async with Simulator(plugins=[HelpThief], strict=False) as sim:
        assert "builtin" in str(sim.app.plugin_errors[0])
        (out,) = await sim.send(sim.user("a"), "/help")
        assert out.text != "mine"


async def test_simulator_is_strict_about_plugin_errors_by_default() -> None:
    with pytest.raises(PluginError, match="thief"):
        async with Simulator(plugins=[Weather, Thief]):
            pass


def test_bad_decorator_use_is_a_plugin_error() -> None:
    with pytest.raises(PluginError, match="must be 'async def'"):

        class NotAsync(Plugin):
            @command("x")
            def x(self, event: MessageEvent) -> None: ...

    with pytest.raises(PluginError, match=r"must take \(self, event\)"):

        class WrongArity(Plugin):
            @on_message()
            async def x(self) -> None: ...

    with pytest.raises(PluginError, match="one non-empty word"):
        command("two words")
    from waiter_sdk import regex

    with pytest.raises(PluginError, match="does not compile"):
        regex("(")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


GOOD = """
    from waiter_sdk import Plugin, command
    from .helper import ANSWER

    class {cls}(Plugin):
        name = "{name}"

        @command("{name}")
        async def run(self, event):
            await event.send(ANSWER)
"""


async def test_folder_loading_both_layouts_and_a_broken_plugin(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    write(plugins / "alpha" / "alpha.py", GOOD.format(cls="Alpha", name="alpha"))
    write(plugins / "alpha" / "helper.py", "ANSWER = 'from alpha'\n")
    write(plugins / "beta" / "__init__.py", GOOD.format(cls="Beta", name="beta"))
    write(plugins / "beta" / "helper.py", "ANSWER = 'from beta'\n")
    write(plugins / "broken" / "broken.py", "import does_not_exist_anywhere\n")
    write(plugins / "_private" / "_private.py", "raise SystemExit('never imported')\n")
    write(plugins / "notes.txt", "not a plugin\n")
    async with Simulator(plugins=[plugins], strict=False) as sim:
        assert {"alpha", "beta"} <= set(sim.app.plugins)
        (error,) = sim.app.plugin_errors
        assert "broken" in str(error) and "does_not_exist_anywhere" in str(error)
        user = sim.user("u")
        assert [o.text for o in await sim.send(user, "/alpha")] == ["from alpha"]
        assert [o.text for o in await sim.send(user, "/beta")] == ["from beta"]


async def test_missing_folder_and_module_are_reported(tmp_path: Path) -> None:
    async with Simulator(
        plugins=[tmp_path / "nope", "no_such_module_xyz", "tests.test_plugins:Nothing"],
        strict=False,
    ) as sim:
        messages = [str(e) for e in sim.app.plugin_errors]
    assert any("does not exist" in m and "nope" in m for m in messages)
    assert any("no_such_module_xyz" in m for m in messages)
    assert any("Nothing" in m for m in messages)


async def test_dotted_module_and_class_specs() -> None:
    async with Simulator(plugins=["tests.test_plugins:Weather", "example_plugins"]) as sim:
        assert "weather" in sim.app.plugins and "echo" in sim.app.plugins


async def test_plugin_instance_and_lifecycle_hooks() -> None:
    calls: list[str] = []

    class Life(Plugin):
        name = "life"

        async def on_load(self) -> None:
            calls.append("load")

        async def on_unload(self) -> None:
            calls.append("unload")

    async with Simulator(plugins=[Life()]) as sim:
        assert sim.app.plugins["life"].app is sim.app
        assert calls == ["load"]
    assert calls == ["load", "unload"]
