"""The package's surface: light imports, a sorted ``__all__``, settings and the banner line."""

from __future__ import annotations

import subprocess
import sys

import pytest

import waiter_sdk.adapters.onebot11 as onebot11
from waiter_sdk import App, ConfigError
from waiter_sdk.adapters.onebot11 import OneBot11Adapter
from waiter_sdk.config import OneBot11Settings, Settings


def test_import_waiter_sdk_does_not_import_aiohttp() -> None:
    code = (
        "import sys, waiter_sdk; print(sorted(m for m in sys.modules if m.startswith('aiohttp')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_all_is_sorted_and_complete() -> None:
    assert onebot11.__all__ == sorted(onebot11.__all__)
    for name in onebot11.__all__:
        assert hasattr(onebot11, name), name


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAITER_ONEBOT11__MODES", '["forward_ws", "http_api"]')
    monkeypatch.setenv("WAITER_ONEBOT11__WS_URLS", '["ws://127.0.0.1:3001"]')
    monkeypatch.setenv("WAITER_ONEBOT11__API_URLS", '["http://127.0.0.1:3000"]')
    monkeypatch.setenv("WAITER_ONEBOT11__ACCESS_TOKEN", "s3cret")
    monkeypatch.setenv("WAITER_ONEBOT11__SECRET", "")
    settings = Settings.load().onebot11
    assert settings.modes == ["forward_ws", "http_api"]
    assert settings.access_token is not None
    assert settings.access_token.get_secret_value() == "s3cret"
    assert settings.secret is None  # an empty secret is no secret
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in str(settings.model_dump())


async def test_bad_combinations_fail_at_start() -> None:
    adapter = OneBot11Adapter(OneBot11Settings(modes=["forward_ws"]))
    app = App(settings=Settings(), adapters=[adapter])
    with pytest.raises(ConfigError, match="WS_URLS"):
        await app.start()
    with pytest.raises(ValueError, match="must start with '/'"):
        OneBot11Settings(path="onebot")


async def test_settings_come_from_the_app_when_not_given() -> None:
    adapter = OneBot11Adapter()
    settings = Settings(onebot11=OneBot11Settings(port=0, access_token="t", secret="s"))
    assert adapter.reverse_ws_url is None  # not started: no port yet
    async with App(settings=settings, adapters=[adapter]):
        line = adapter.describe()
        assert adapter.server is not None
        assert adapter.server.port != 0  # port 0 asked for any; this is the one bound
        assert adapter.reverse_ws_url == f"ws://127.0.0.1:{adapter.server.port}/onebot/v11/ws"
        assert adapter.http_post_url is None  # not a mode here
        assert line == f"reverse WS {adapter.reverse_ws_url} [access token + signature]"
    assert adapter.reverse_ws_url is None
    other = OneBot11Adapter(
        OneBot11Settings(
            modes=["forward_ws", "http_api"],
            ws_urls=["ws://h:1/?access_token=t"],
            api_urls=["http://h:2"],
            ws_split=True,
        )
    )
    assert other.describe() == (
        "forward WS ws://h:1/?access_token=*** (/api + /event); HTTP API http://h:2 [no auth]"
    )
