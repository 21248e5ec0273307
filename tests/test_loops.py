"""The event loop ``App.run()`` picks: uvloop when installed, unless the setting says otherwise."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from waiter_sdk import App
from waiter_sdk._loops import choose_loop
from waiter_sdk.config import Settings
from waiter_sdk.exceptions import ConfigError

ROOT = Path(__file__).resolve().parent.parent


class FakeUvloopLoop(asyncio.SelectorEventLoop):
    """A stock loop under another name: what the fake uvloop module hands out."""


@pytest.fixture
def fake_uvloop(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("uvloop")
    module.new_event_loop = FakeUvloopLoop  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uvloop", module)
    return module


@pytest.fixture
def no_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError


def loop_of_run(app: App, monkeypatch: pytest.MonkeyPatch) -> asyncio.AbstractEventLoop:
    """Call ``app.run()`` with a ``serve`` that only notes the loop it runs on."""
    seen: list[asyncio.AbstractEventLoop] = []

    async def serve(self: App) -> None:
        seen.append(asyncio.get_running_loop())

    monkeypatch.setattr(App, "serve", serve)
    app.run()
    return seen[0]


def test_auto_takes_uvloop_when_it_is_installed(fake_uvloop: types.ModuleType) -> None:
    assert Settings.load().loop == "auto"
    assert choose_loop("auto") == ("uvloop", fake_uvloop.new_event_loop)


@pytest.mark.usefixtures("no_uvloop")
def test_auto_takes_the_stock_loop_without_uvloop() -> None:
    assert choose_loop("auto") == ("asyncio", None)


@pytest.mark.usefixtures("fake_uvloop")
def test_asyncio_keeps_the_stock_loop_with_uvloop_installed() -> None:
    assert choose_loop("asyncio") == ("asyncio", None)


@pytest.mark.usefixtures("no_uvloop")
def test_asking_for_a_missing_uvloop_names_the_setting_and_the_extra() -> None:
    with pytest.raises(ConfigError) as caught:
        choose_loop("uvloop")
    assert "WAITER_LOOP" in str(caught.value)
    assert "pip install 'waiter-sdk[speed]'" in str(caught.value)


@pytest.mark.usefixtures("fake_uvloop")
def test_run_serves_on_the_chosen_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    auto = loop_of_run(App(Settings.load(loop="auto")), monkeypatch)
    stock = loop_of_run(App(Settings.load(loop="asyncio")), monkeypatch)
    assert type(auto) is FakeUvloopLoop
    assert type(stock) is not FakeUvloopLoop and isinstance(stock, asyncio.BaseEventLoop)
    assert auto.is_closed() and stock.is_closed()


@pytest.mark.usefixtures("no_uvloop")
def test_run_fails_before_starting_when_uvloop_is_asked_for_and_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = App(Settings.load(loop="uvloop"))
    with pytest.raises(ConfigError, match="WAITER_LOOP"):
        loop_of_run(app, monkeypatch)
    assert app.state == "new"


def test_run_uses_the_real_uvloop_when_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    uvloop = pytest.importorskip("uvloop")
    assert isinstance(loop_of_run(App(Settings.load(loop="auto")), monkeypatch), uvloop.Loop)


def test_the_command_line_refuses_a_missing_uvloop_by_name(tmp_path: Path) -> None:
    hidden = tmp_path / "uvloop"  # shadows an installed uvloop: importing it fails
    hidden.mkdir()
    (hidden / "__init__.py").write_text("raise ImportError('hidden by the test')\n", "utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "WAITER_LOOP": "uvloop"}
    result = subprocess.run(
        [sys.executable, "-m", "waiter_sdk", "run", "--adapter", "console"],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 2
    assert "WAITER_LOOP" in result.stderr and "waiter-sdk[speed]" in result.stderr
    assert "Traceback" not in result.stderr
