"""Issue 12.9: each adapter owns its settings model, registered with the core settings.

`OneBot11Settings`, `SandboxSettings` and `ConsoleSettings` lived in core `config.py`, so every
new adapter (Satori and Matrix next) would have edited it. Each adapter now defines its model in
a module of its own that imports pydantic only, names it in `waiter_sdk.adapters.SETTINGS`,
and any adapter or plugin can `register_settings(name, Model)`; `WAITER_ONEBOT11__...` keeps
working and unknown keys are still refused by name.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from waiter_sdk.adapters.onebot11 import OneBot11Settings
from waiter_sdk.config import ConfigError, Section, Settings, register_settings


class SatoriSettings(Section):
    """What a new adapter brings, without a line in config.py."""

    endpoint: str = "http://127.0.0.1:5140"
    token: SecretStr | None = None


def test_a_new_section_registers_without_touching_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    register_settings("satori_test", SatoriSettings)
    register_settings("satori_test", SatoriSettings)  # again: a no-op
    monkeypatch.setenv("WAITER_SATORI_TEST__ENDPOINT", "http://sat:5500")
    settings = Settings.load()
    assert settings.section("satori_test", SatoriSettings).endpoint == "http://sat:5500"
    monkeypatch.setenv("WAITER_SATORI_TEST__ENDPOIN", "typo")
    with pytest.raises(ConfigError, match=r"WAITER_SATORI_TEST__ENDPOIN.*did you mean"):
        Settings.load()
    with pytest.raises(ConfigError, match="already taken"):
        register_settings("satori_test", OneBot11Settings)


def test_the_onebot_section_reads_its_variables_and_refuses_unknown_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WAITER_ONEBOT11__PORT", "6700")
    settings = Settings.load()
    assert settings.section("onebot11", OneBot11Settings).port == 6700
    with pytest.raises(ConfigError, match=r"unknown setting 'onebot11\.prot'"):
        Settings.load(onebot11={"prot": 1})
    with pytest.raises(ConfigError, match="no section 'onebot11' of type SatoriSettings"):
        settings.section("onebot11", SatoriSettings)


def test_the_old_import_path_still_works() -> None:
    from waiter_sdk.config import OneBot11Settings as Old
    from waiter_sdk.config import SandboxSettings

    assert Old is OneBot11Settings
    assert SandboxSettings().port == 8080


def test_reading_settings_imports_no_adapter() -> None:
    code = (
        "import sys\n"
        "from waiter_sdk.config import Settings\n"
        "from waiter_sdk.adapters.onebot11 import OneBot11Settings\n"
        "Settings.load()\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('aiohttp'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_config_names_no_adapter() -> None:
    import waiter_sdk.config as config

    source = Path(config.__file__).read_text(encoding="utf-8")
    for name in ("onebot11", "OneBot11", "sandbox", "Sandbox", "console", "Console"):
        assert name not in source.split('"""', 2)[2], name  # outside the module docstring
