"""``waiter-sdk storage``: the schema changes a SchemaError asks for, on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from waiter_sdk import MessageEvent, Plugin, command
from waiter_sdk.cli import main
from waiter_sdk.storage import Counter, Fields
from waiter_sdk.testing import Simulator


class Before(Fields):
    wins: Counter = 0
    title: str = ""


class After(Fields):
    victories: Counter = 0
    title: str = ""


def game(fields: type[Fields]) -> type[Plugin]:
    class Game(Plugin):
        name = "game"
        user_fields = fields

        @command("win")
        async def win(self, event: MessageEvent):
            me = await event.observe_user()
            name = next(iter(type(me).model_fields))
            setattr(me, name, getattr(me, name) + 1)
            yield event.plain_result(f"{getattr(me, name)}")

    return Game


@pytest.fixture
def address(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    monkeypatch.setenv("WAITER_STORAGE", url)
    return url


async def play(address: str, fields: type[Fields], times: int) -> list[str]:
    async with Simulator(plugins=[game(fields)], storage=address, strict=False) as sim:
        if sim.app.plugin_errors:
            return [str(e) for e in sim.app.plugin_errors]
        said: list[str] = []
        for _ in range(times):
            said += [o.text for o in await sim.send(sim.user("alice"), "/win")]
        return said


def run_cli(*argv: str) -> int:
    # main() runs its own event loop, as it does from a shell: not inside the test's loop.
    return main(["storage", *argv])


def test_rename_keeps_the_data_and_lets_the_plugin_load(
    address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    assert asyncio.run(play(address, Before, 2)) == ["1", "2"]
    refused = asyncio.run(play(address, After, 1))
    assert len(refused) == 1
    assert "'wins'" in refused[0]
    assert "waiter-sdk storage rename game user wins victories" in refused[0]

    assert run_cli("fields", "game") == 0
    listed = capsys.readouterr().out
    assert "wins" in listed and "Counter" in listed and "title" in listed

    assert run_cli("rename", "game", "user", "wins", "victories") == 0
    assert "in 1 records" in capsys.readouterr().out
    assert asyncio.run(play(address, After, 1)) == ["3"]


def test_drop_asks_for_yes_then_deletes(address: str, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    assert asyncio.run(play(address, Before, 1)) == ["1"]
    assert run_cli("drop", "game", "user", "wins") == 1
    assert "--yes" in capsys.readouterr().err
    assert asyncio.run(play(address, Before, 1)) == ["2"]  # not dropped without --yes
    assert run_cli("drop", "game", "user", "wins", "--yes") == 0
    assert "from 1 records" in capsys.readouterr().out
    # Declared again after the drop: it starts from its default.
    assert asyncio.run(play(address, Before, 1)) == ["1"]


def test_unknown_field_and_taken_name_are_refused(
    address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    asyncio.run(play(address, Before, 1))
    assert run_cli("rename", "game", "user", "nope", "x") == 2
    assert "no user field 'nope'" in capsys.readouterr().err
    assert run_cli("rename", "game", "user", "wins", "title") == 2
    assert "already a user field" in capsys.readouterr().err
