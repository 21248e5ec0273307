"""The package's surface: light imports, a sorted ``__all__``, settings from the environment,
the CLI name, and the banner line."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import waiter_sdk.adapters.satori as satori
from waiter_sdk import App
from waiter_sdk.adapters.satori import SatoriAdapter, SatoriSettings
from waiter_sdk.cli import build_parser, make_adapter
from waiter_sdk.config import Settings


def test_all_is_sorted_and_complete() -> None:
    assert satori.__all__ == sorted(satori.__all__)
    for name in satori.__all__:
        assert hasattr(satori, name), name


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAITER_SATORI__URL", "https://satori.example.org/bots/v1/")
    monkeypatch.setenv("WAITER_SATORI__TOKEN", "s3cret-token")
    monkeypatch.setenv("WAITER_SATORI__PING_INTERVAL", "5")
    settings = Settings.load().section("satori", SatoriSettings)
    assert settings.url == "https://satori.example.org/bots"  # '/v1' and '/' are ours to add
    assert settings.token is not None
    assert settings.token.get_secret_value() == "s3cret-token"
    assert settings.ping_interval == 5.0
    assert "s3cret-token" not in repr(settings)
    assert "s3cret-token" not in str(settings.model_dump())
    monkeypatch.setenv("WAITER_SATORI__TOKEN", "  ")
    assert Settings.load().section("satori", SatoriSettings).token is None


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("url", "ws://127.0.0.1:5140", "http:// or https://"),
        ("ping_interval", 30, "less than or equal to 10"),
        ("pong_timeout", 0, "greater than 0"),
    ],
)
def test_bad_settings_name_themselves(field: str, value: object, words: str) -> None:
    with pytest.raises(ValidationError, match=words) as refused:
        SatoriSettings(**{field: value})
    assert field in str(refused.value)


async def test_the_cli_builds_it_from_the_settings_and_the_banner_says_where() -> None:
    assert build_parser().parse_args(["run", "--adapter", "satori"]).adapter == ["satori"]
    settings = Settings(satori=SatoriSettings(url="http://127.0.0.1:9", token="t0k"))
    adapter = make_adapter("satori", settings)
    assert isinstance(adapter, SatoriAdapter)
    assert adapter.settings.url == "http://127.0.0.1:9"
    assert adapter.describe() == (
        "Satori server http://127.0.0.1:9 (events http://127.0.0.1:9/v1/events) [token]"
    )
    # Not given settings, it takes the app's section at start.
    plain = SatoriAdapter()
    async with App(
        settings=Settings(storage="memory", satori=SatoriSettings(url="http://127.0.0.1:9")),
        adapters=[plain],
    ):
        assert plain.settings.url == "http://127.0.0.1:9"
        assert "[no token]" in plain.describe()
