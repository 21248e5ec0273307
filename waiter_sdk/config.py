"""Settings, read once at start-up from init arguments, ``WAITER_*`` variables, ``.env`` and
``waiter.toml`` (in that order of precedence).

Usage::

    settings = Settings.load(session={"exit_words": ["exit"]})
    # or: WAITER_SESSION__EXIT_WORDS='["exit"]' WAITER_LOG_LEVEL=DEBUG waiter-sdk run

A bad value stops start-up with a ``ConfigError`` that names the setting and what it accepts;
an unknown ``WAITER_*`` variable or key is refused too, because a typo that silently does
nothing is worse than an error.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .exceptions import ConfigError

__all__ = [
    "ConsoleSettings",
    "OneBot11Settings",
    "SandboxSettings",
    "SessionSettings",
    "Settings",
]

ENV_PREFIX = "WAITER_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SessionSettings(_Section):
    """Defaults of the session layer."""

    exit_words: list[str] = Field(
        default_factory=list,
        description="A message exactly equal to one of these ends the sender's open session.",
    )
    exit_notice: str | None = Field(
        default=None, description="Sent when an exit word ends a session (None: send nothing)."
    )
    max_queue: int = Field(default=64, ge=1, description="Messages queued behind a busy waiter.")
    prompt_timeout: float = Field(default=60.0, gt=0, description="Default for event.prompt().")
    queue_delay: float = Field(
        default=0.1, ge=0, description="Default gap between event.send_queued() messages."
    )


class SandboxSettings(_Section):
    """The web sandbox adapter."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    token: str | None = Field(
        default=None, description="Required when host is not a loopback address."
    )


class ConsoleSettings(_Section):
    """The console adapter."""

    user_id: str = "you"
    nickname: str = "You"


class OneBot11Settings(_Section):
    """The OneBot v11 adapter (see docs/adapters/onebot11.md)."""

    modes: list[Literal["reverse_ws", "forward_ws", "http_post", "http_api"]] = Field(
        default_factory=lambda: ["reverse_ws"]  # type: ignore[arg-type]
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=0, le=65535)
    path: str = "/onebot/v11/ws"
    http_post_path: str = "/onebot/v11/http"
    ws_urls: list[str] = Field(default_factory=list, description="Forward WebSocket URLs.")
    api_urls: list[str] = Field(default_factory=list, description="HTTP API base URLs.")
    access_token: str | None = None
    secret: str | None = None
    action_timeout: float = Field(default=30.0, gt=0)
    reconnect_interval: float = Field(default=3.0, gt=0)
    reconnect_max: float = Field(default=60.0, gt=0)
    heartbeat_grace: float = Field(default=3.0, gt=1)
    max_message_size: int = Field(default=64 * 1024 * 1024, ge=1024)
    max_body_size: int = Field(default=16 * 1024 * 1024, ge=1024)
    dedup_window: float = Field(default=60.0, ge=0)
    drop_self_messages: bool = True

    @field_validator("path", "http_post_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value


class Settings(BaseSettings):
    """All settings; nested sections are reached with ``__`` in variable names."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        toml_file="waiter.toml",
        extra="forbid",
        validate_assignment=True,
    )

    log_level: Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"] = (
        "INFO"
    )
    command_prefixes: list[str] = Field(default_factory=lambda: ["/"])
    loop: Literal["asyncio", "uvloop"] = "asyncio"
    plugins: list[str] = Field(default_factory=list)
    session: SessionSettings = Field(default_factory=SessionSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    onebot11: OneBot11Settings = Field(default_factory=OneBot11Settings)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            TomlConfigSettingsSource(settings_cls),
        )

    @classmethod
    def load(cls, **values: Any) -> Settings:
        """Read every source; raise ``ConfigError`` naming each bad or unknown setting."""
        _check_env_names(os.environ)
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from None


def _known_env_names() -> set[str]:
    names: set[str] = set()
    for name, info in Settings.model_fields.items():
        names.add(f"{ENV_PREFIX}{name.upper()}")
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for sub in annotation.model_fields:
                names.add(f"{ENV_PREFIX}{name.upper()}__{sub.upper()}")
    return names


def _check_env_names(environ: Any) -> None:
    known = _known_env_names()
    for var in environ:
        upper = var.upper()
        if upper.startswith(ENV_PREFIX) and upper not in known:
            close = difflib.get_close_matches(upper, sorted(known), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(f"unknown setting {var}{hint}")


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "settings"
        env = ENV_PREFIX + "__".join(str(part).upper() for part in err["loc"] if isinstance(part, str))
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown setting {loc!r}")
            continue
        given = err.get("input")
        shown = repr(given) if not isinstance(given, dict) else "a table"
        lines.append(f"setting {loc!r} ({env}): {err['msg']} (got {shown})")
    return "invalid configuration: " + "; ".join(lines)


def find_toml(path: str | Path = "waiter.toml") -> Path | None:
    """The ``waiter.toml`` that ``Settings`` will read, if present in the working directory."""
    candidate = Path(path)
    return candidate if candidate.is_file() else None
