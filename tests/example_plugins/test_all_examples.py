"""example_plugins as a whole: loadable as a package and as a folder, documented, no clashes."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from waiter_sdk import Plugin
from waiter_sdk.plugins.base import handler_infos
from waiter_sdk.testing import Simulator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ["echo", "guess_number", "idiom_chain", "login", "parrot", "quiz"]
SESSION_EXAMPLES = ["guess_number", "idiom_chain", "login", "parrot", "quiz"]


@pytest.mark.parametrize("spec", ["example_plugins", ROOT / "example_plugins"])
async def test_every_example_loads_from_the_package_and_from_the_folder(spec: str | Path) -> None:
    # Simulator is strict: any plugin error (import, name or command clash) fails here.
    async with Simulator(plugins=[spec]) as sim:
        assert sorted(set(sim.app.plugins) - {"builtin"}) == EXAMPLES
        # The idiom game works when loaded from the folder too (relative imports, data file).
        out = await sim.send(sim.user("alice"), "/idiom-chain 一心一意", group="g1")
        assert "First idiom: 一心一意" in out[0].text


@pytest.mark.parametrize("name", SESSION_EXAMPLES)
def test_every_example_is_documented(name: str) -> None:
    module = importlib.import_module(f"example_plugins.{name}")
    assert module.__doc__ and "Usage" in module.__doc__, f"{name} needs a docstring with usage"
    [plugin] = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, Plugin) and v.name == name
    ]
    assert plugin.description
    commands = [
        info for value in vars(plugin).values() for info in handler_infos(value) if info.command
    ]
    assert commands
    assert all(info.description for info in commands)
