"""Settings: sources, nesting, and errors that name the culprit."""

from __future__ import annotations

from pathlib import Path

import pytest

from waiter_sdk.config import Settings
from waiter_sdk.exceptions import ConfigError


def test_defaults() -> None:
    settings = Settings.load()
    assert settings.command_prefixes == ["/"]
    assert settings.session.max_queue == 64
    assert settings.sandbox.host == "127.0.0.1" and settings.sandbox.port == 8080


def test_env_prefix_and_nesting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAITER_LOG_LEVEL", "debug")
    monkeypatch.setenv("WAITER_SESSION__EXIT_WORDS", '["exit", "退出"]')
    monkeypatch.setenv("WAITER_SANDBOX__PORT", "9000")
    settings = Settings.load()
    assert settings.log_level == "DEBUG"
    assert settings.session.exit_words == ["exit", "退出"]
    assert settings.sandbox.port == 9000


def test_toml_and_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "waiter.toml").write_text(
        '[session]\nexit_words = ["q"]\nmax_queue = 5\n', encoding="utf-8"
    )
    (tmp_path / ".env").write_text("WAITER_SESSION__MAX_QUEUE=7\n", encoding="utf-8")
    settings = Settings.load()
    assert settings.session.exit_words == ["q"]
    assert settings.session.max_queue == 7  # .env beats waiter.toml


def test_bad_value_names_setting_and_accepted_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAITER_LOG_LEVEL", "loud")
    with pytest.raises(ConfigError) as info:
        Settings.load()
    message = str(info.value)
    assert "WAITER_LOG_LEVEL" in message and "'DEBUG'" in message and "'LOUD'" in message


def test_unknown_env_setting_is_refused_with_a_suggestion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WAITER_SESSION__EXIT_WORD", "x")
    with pytest.raises(ConfigError, match="did you mean WAITER_SESSION__EXIT_WORDS"):
        Settings.load()


def test_unknown_toml_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "waiter.toml").write_text("[session]\nmax_qeue = 5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"session\.max_qeue"):
        Settings.load()


def test_range_errors() -> None:
    with pytest.raises(ConfigError, match=r"session\.max_queue"):
        Settings.load(session={"max_queue": 0})
    with pytest.raises(ConfigError, match=r"sandbox\.port"):
        Settings.load(sandbox={"port": 70000})
