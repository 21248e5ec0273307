"""The package's surface: light imports, a sorted ``__all__``, settings from the environment,
``waiter-sdk run --adapter matrix``, and the settings taken from the app when not given."""

from __future__ import annotations

import pytest

import waiter_sdk.adapters.matrix as matrix
from waiter_sdk.adapters.matrix import MatrixAdapter, MatrixSettings
from waiter_sdk.cli import build_parser, make_adapter
from waiter_sdk.config import Settings

from .fake_homeserver import TOKEN, USER, FakeHomeserver


def test_all_is_sorted_and_complete() -> None:
    assert matrix.__all__ == sorted(matrix.__all__)
    for name in matrix.__all__:
        assert hasattr(matrix, name), name


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAITER_MATRIX__HOMESERVER", "https://matrix.example.org/")
    monkeypatch.setenv("WAITER_MATRIX__ACCESS_TOKEN", "syt_s3cret")
    monkeypatch.setenv("WAITER_MATRIX__USER_ID", "@bot:example.org")
    monkeypatch.setenv("WAITER_MATRIX__AUTO_JOIN", "false")
    settings = Settings.load().section("matrix", MatrixSettings)
    assert settings.homeserver == "https://matrix.example.org"
    assert settings.access_token is not None
    assert settings.access_token.get_secret_value() == "syt_s3cret"
    assert (settings.user_id, settings.auto_join) == ("@bot:example.org", False)
    assert "syt_s3cret" not in repr(settings) and "syt_s3cret" not in str(settings.model_dump())
    adapter = make_adapter("matrix", Settings.load())
    assert isinstance(adapter, MatrixAdapter) and adapter.settings == settings
    assert build_parser().parse_args(["run", "--adapter", "matrix"]).adapter == ["matrix"]


def test_bad_values_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        MatrixSettings(homeserver="matrix.example.org")
    with pytest.raises(ValueError, match="full user id"):
        MatrixSettings(user_id="bot")
    assert MatrixSettings(access_token="  ").access_token is None


async def test_settings_come_from_the_app_when_not_given() -> None:
    from waiter_sdk import App

    fake = FakeHomeserver()
    await fake.start()
    adapter = MatrixAdapter()
    settings = Settings(
        storage="memory", matrix=MatrixSettings(homeserver=fake.url, access_token=TOKEN)
    )
    try:
        async with App(settings=settings, adapters=[adapter]):
            await adapter.wait_synced(10)
            assert adapter.describe() == f"{fake.url} as {USER} [access token]"
    finally:
        await fake.stop()


def test_a_missing_synapse_skips_locally_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from .synapse_kit import missing_synapse

    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="no synapse here"):
        missing_synapse("no synapse here")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true requires the Matrix tests to run"):
        missing_synapse("no synapse here")
