"""Settings, read once at start-up from init arguments, ``WAITER_*`` variables, ``.env`` and
``waiter.toml`` (in that order of precedence).

Usage::

    settings = Settings.load(session={"exit_words": ["exit"]})
    # or: WAITER_SESSION__EXIT_WORDS='["exit"]' WAITER_LOG_LEVEL=DEBUG waiter-sdk run

A bad value stops start-up with a ``ConfigError`` that names the setting and what it accepts;
an unknown ``WAITER_*`` variable or key is refused too, because a typo that silently does
nothing is worse than an error. Secrets (tokens, signing keys) are ``SecretStr``: a printed or
logged settings object shows ``**********``, and an error about one never repeats its value.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .exceptions import ConfigError
from .loops import LoopSetting

__all__ = [
    "ConsoleSettings",
    "OneBot11Settings",
    "SandboxSettings",
    "SessionSettings",
    "Settings",
]

ENV_PREFIX = "WAITER_"


class _Section(BaseModel):
    # hide_input_in_errors: a ValidationError about a token must not print the token.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, hide_input_in_errors=True)


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
    order_window: float = Field(
        default=2.0,
        ge=0,
        description=(
            "Seconds a sender's next message in a conversation waits while the handlers of "
            "their previous message run, until those finish or open a session; so '/login' "
            "followed at once by 'alice' reaches the login session. 0 turns it off."
        ),
    )
    prompt_timeout: float = Field(default=60.0, gt=0, description="Default for event.prompt().")
    queue_delay: float = Field(
        default=0.1, ge=0, description="Default gap between event.send_queued() messages."
    )


class SandboxSettings(_Section):
    """The web sandbox adapter."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    token: SecretStr | None = Field(
        default=None,
        description="Required when host is not a loopback address (read it with "
        "get_secret_value(); it prints as '**********').",
    )


class ConsoleSettings(_Section):
    """The console adapter."""

    user_id: str = "you"
    nickname: str = "You"


class OneBot11Settings(_Section):
    """The OneBot v11 adapter (NapCat, Lagrange.OneBot, LLOneBot, go-cqhttp).

    Usage: ``WAITER_ONEBOT11__MODES='["reverse_ws"]' WAITER_ONEBOT11__ACCESS_TOKEN=s3cret``, or
    ``OneBot11Adapter(OneBot11Settings(modes=["forward_ws"], ws_urls=["ws://127.0.0.1:3001"]))``.
    Every field is described in docs/adapters/onebot11.md. Tokens are ``SecretStr`` so that a
    printed or logged settings object never shows them.
    """

    modes: list[Literal["reverse_ws", "forward_ws", "http_post", "http_api"]] = Field(
        default_factory=lambda: ["reverse_ws"],  # type: ignore[arg-type]
        description="Transports to run: reverse_ws and http_post listen on host:port; "
        "forward_ws connects to ws_urls; http_api sends actions to api_urls.",
    )
    host: str = Field(
        default="127.0.0.1", description="Address the reverse_ws/http_post server binds."
    )
    port: int = Field(
        default=8081, ge=0, le=65535, description="Port of that server (0: any free)."
    )
    path: str = Field(
        default="/onebot/v11/ws",
        description="Reverse WebSocket path; Universal, API and Event sockets all connect here "
        "(also accepted: path + '/api', path + '/event').",
    )
    http_post_path: str = Field(
        default="/onebot/v11/http", description="Path that receives HTTP POST (webhook) events."
    )
    ws_urls: list[str] = Field(
        default_factory=list, description="Forward WebSocket URLs of the implementation."
    )
    ws_split: bool = Field(
        default=False,
        description="Forward WebSocket: open '<url>/api' and '<url>/event' instead of one "
        "Universal socket at '<url>'.",
    )
    api_urls: list[str] = Field(
        default_factory=list, description="HTTP API base URLs of the implementation."
    )
    access_token: SecretStr | None = Field(
        default=None,
        description="Token both sides must present (Authorization: Bearer/Token or "
        "?access_token=); empty means none.",
    )
    secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA1 key checked against X-Signature on HTTP POST."
    )
    action_timeout: float = Field(default=30.0, gt=0, description="Seconds an action may take.")
    connect_timeout: float = Field(
        default=10.0, gt=0, description="Seconds to open a forward WebSocket or an HTTP request."
    )
    identify_timeout: float = Field(
        default=1.0,
        gt=0,
        description="Forward WebSocket: seconds to wait for lifecycle.connect before asking "
        "get_login_info who the account is.",
    )
    reconnect_interval: float = Field(
        default=3.0, gt=0, description="Forward WebSocket: first delay before reconnecting."
    )
    reconnect_max: float = Field(
        default=60.0, gt=0, description="Forward WebSocket: cap of the doubling reconnect delay."
    )
    heartbeat_grace: float = Field(
        default=3.0,
        gt=1,
        description="Close a WebSocket silent for this many heartbeat intervals "
        "(only once a heartbeat was seen).",
    )
    ws_ping_interval: float = Field(
        default=30.0, ge=0, description="WebSocket ping interval in seconds (0: no pings)."
    )
    max_message_size: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="Largest WebSocket message accepted, bytes."
    )
    max_body_size: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Largest HTTP POST body accepted, bytes."
    )
    dedup_window: float = Field(
        default=60.0,
        ge=0,
        description="Seconds within which a repeated event (HTTP retries, several channels) "
        "is dropped; an event is remembered for at least this long and less than twice it "
        "(0: off).",
    )
    drop_self_messages: bool = Field(
        default=True, description="Drop message_sent and messages whose sender is the bot."
    )

    @field_validator("path", "http_post_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value.rstrip("/") or "/"

    @field_validator("access_token", "secret", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        # NapCat and Lagrange configs often carry "" for "no token": treat it as unset.
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
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
        hide_input_in_errors=True,  # the message of a ValidationError never shows a secret
    )

    log_level: Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    command_prefixes: list[str] = Field(default_factory=lambda: ["/"])
    loop: LoopSetting = Field(
        default="auto",
        description="The event loop of run(): 'auto' takes uvloop when installed "
        "(pip install 'waiter-sdk[speed]'), else asyncio's; 'uvloop' fails if it is missing.",
    )
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


def _secret_settings() -> frozenset[tuple[str, ...]]:
    """The paths of every ``SecretStr`` setting, such as ``("onebot11", "access_token")``."""
    found: set[tuple[str, ...]] = set()
    for name, info in Settings.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for sub, sub_info in annotation.model_fields.items():
                if "SecretStr" in str(sub_info.annotation):
                    found.add((name, sub))
        elif "SecretStr" in str(annotation):
            found.add((name,))
    return frozenset(found)


def _describe(exc: ValidationError) -> str:
    hidden_paths = _secret_settings()
    lines = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "settings"
        env = ENV_PREFIX + "__".join(
            str(part).upper() for part in err["loc"] if isinstance(part, str)
        )
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown setting {loc!r}")
            continue
        given = err.get("input")
        named = tuple(str(part) for part in err["loc"] if isinstance(part, str))
        if named in hidden_paths:
            # A token of digits left unquoted in waiter.toml is still a token: never echo it.
            shown = f"a {type(given).__name__}, not shown"
        else:
            shown = repr(given) if not isinstance(given, dict) else "a table"
        lines.append(f"setting {loc!r} ({env}): {err['msg']} (got {shown})")
    return "invalid configuration: " + "; ".join(lines)


def find_toml(path: str | Path = "waiter.toml") -> Path | None:
    """The ``waiter.toml`` that ``Settings`` will read, if present in the working directory."""
    candidate = Path(path)
    return candidate if candidate.is_file() else None
