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
import importlib
import os
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ._loops import LoopSetting
from .exceptions import ConfigError

__all__ = [
    "ClusterSettings",
    "Section",
    "SessionSettings",
    "Settings",
    "find_toml",
    "register_settings",
]

ENV_PREFIX = "WAITER_"
S = TypeVar("S", bound=BaseModel)


class Section(BaseModel):
    """Base of a settings section: unknown keys refused, secrets never echoed in errors.

    Usage, for an adapter or a plugin of your own::

        class WeatherSettings(Section):
            api_key: SecretStr | None = None

        register_settings("weather", WeatherSettings)   # WAITER_WEATHER__API_KEY=...
        settings.section("weather", WeatherSettings).api_key
    """

    # hide_input_in_errors: a ValidationError about a token must not print the token.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, hide_input_in_errors=True)


class SessionSettings(Section):
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
            "followed at once by 'alice' reaches the login session. Later messages of others "
            "wait for it only before the handlers it would reach. 0 turns it off."
        ),
    )
    prompt_timeout: float = Field(default=60.0, gt=0, description="Default for event.prompt().")
    shutdown_grace: float = Field(
        default=5.0,
        ge=0,
        description="When the app stops, seconds the handlers whose sessions it ended get to "
        "finish (say goodbye) before they are cancelled.",
    )
    queue_delay: float = Field(
        default=0.1, ge=0, description="Default gap between event.send_queued() messages."
    )


class ClusterSettings(Section):
    """Several worker processes on one Redis (``waiter-sdk run --workers N``, docs/scaling.md).

    Read by the ingress and by every worker: they must all be given the same values.
    """

    redis: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="The Redis every process of the cluster shares (redis:// or rediss:// or "
        "unix://). Needs pip install 'waiter-sdk[redis]' and Redis 7 or later.",
    )
    worker_id: str | None = Field(
        default=None,
        description="This worker's name in Redis; unset: a fresh one per start (host, pid and "
        "a random suffix). Two live workers must never share one.",
    )
    shards: int = Field(
        default=64,
        ge=1,
        le=4096,
        description="How many streams the events nobody owns are spread over, by chat; the "
        "live workers share them. The same on every process; changing it reorders chats.",
    )
    ownership_ttl: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a session's key in Redis outlives the last heartbeat of its worker.",
    )
    heartbeat: float = Field(
        default=1.0, gt=0, description="Seconds between a worker's heartbeats."
    )
    dead_after: float = Field(
        default=3.0,
        gt=0,
        description="Seconds without a heartbeat after which a worker counts as dead: its "
        "conversations are told and its events go to the others.",
    )
    crash_notice: str | None = Field(
        default="Sorry, this conversation was interrupted (a bot process stopped). "
        "Please start it again.",
        description="Sent to each conversation whose session was on a worker that died "
        "(None or empty: send nothing).",
    )
    send_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a worker waits for the ingress to carry out a send.",
    )
    ledger_ttl: float = Field(
        default=86400.0,
        gt=0,
        description="Seconds the record that a platform message was handled is kept, so a "
        "message delivered twice within it is handled once.",
    )

    @model_validator(mode="after")
    def _heartbeat_fits(self) -> ClusterSettings:
        if self.heartbeat >= self.dead_after:
            raise ValueError(
                f"cluster.heartbeat ({self.heartbeat} s) must be shorter than "
                f"cluster.dead_after ({self.dead_after} s), or live workers would count as dead"
            )
        if self.dead_after >= self.ownership_ttl:
            raise ValueError(
                f"cluster.dead_after ({self.dead_after} s) must be shorter than "
                f"cluster.ownership_ttl ({self.ownership_ttl} s): a dead worker's sessions are "
                "cleaned up before their keys could expire on their own"
            )
        return self


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
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    storage: str = Field(
        default="sqlite",
        description="Where plugins' stored fields and key-value data live: 'sqlite' "
        "(<data_dir>/waiter.db), 'sqlite:///path.db', 'redis://host:6379/0' "
        "(pip install 'waiter-sdk[redis]') or 'memory' (lost at exit; the Simulator's default).",
    )
    data_dir: Path = Field(
        default=Path("data"), description="The directory of the SQLite file and other bot data."
    )
    storage_timeout: float = Field(
        default=5.0,
        gt=0,
        description="Seconds a storage call may wait: for an SQLite lock another process holds, "
        "or for Redis to answer.",
    )
    # Adapters and plugins add their own sections with register_settings(); the built-in
    # adapters' are named in waiter_sdk.adapters.SETTINGS and registered on first use.

    @field_validator("storage")
    @classmethod
    def _storage_address(cls, value: str) -> str:
        scheme = value.partition(":")[0].lower()
        if scheme not in ("sqlite", "memory", "redis", "rediss", "unix"):
            raise ValueError(
                "not a storage address: use 'sqlite', 'sqlite:///path.db', "
                "'redis://host:6379/0' or 'memory'"
            )
        return value

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

    def __init__(self, **values: Any) -> None:
        _register_builtin_sections()  # before the first validation needs the sections
        super().__init__(**values)

    def section(self, name: str, model: type[S]) -> S:
        """The section ``name``, typed as ``model``: ``settings.section("weather", WeatherSettings)``."""
        value = getattr(self, name, None)
        if not isinstance(value, model):
            raise ConfigError(
                f"settings have no section {name!r} of type {model.__name__}; "
                f"register it first: register_settings({name!r}, {model.__name__})"
            )
        return value

    @classmethod
    def load(cls, **values: Any) -> Settings:
        """Read every source; raise ``ConfigError`` naming each bad or unknown setting."""
        _register_builtin_sections()
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
    """The paths of every ``SecretStr`` setting, such as ``("weather", "api_key")``."""
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
        if named == ("storage",) and isinstance(given, str):
            from .storage.address import redact_url  # an address may carry a Redis password

            shown = repr(redact_url(given))
        elif named in hidden_paths:
            # A token of digits left unquoted in waiter.toml is still a token: never echo it.
            shown = f"a {type(given).__name__}, not shown"
        else:
            shown = repr(given) if not isinstance(given, dict) else "a table"
        lines.append(f"setting {loc!r} ({env}): {err['msg']} (got {shown})")
    return "invalid configuration: " + "; ".join(lines)


def register_settings(name: str, model: type[Section]) -> None:
    """Add the section ``name`` to ``Settings``: ``WAITER_<NAME>__<KEY>`` and ``[name]`` in
    ``waiter.toml`` are read into ``model``, and its unknown keys are refused by name.

    For an adapter or a plugin that owns its settings, as NoneBot's ``get_plugin_config``.
    Registering the same model again is a no-op; another model under a taken name is an error.
    Call it before ``Settings.load()``, at import of the module that defines ``model``.
    """
    held = Settings.model_fields.get(name)
    if held is not None:
        if held.annotation is model:
            return
        raise ConfigError(f"settings section {name!r} is already taken by {held.annotation!r}")
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"a settings section is a pydantic model class, not {model!r}")
    # Pydantic builds a model's validator from its fields once; adding one means rebuilding.
    Settings.model_fields[name] = FieldInfo(annotation=model, default_factory=model)
    Settings.__annotations__[name] = model
    try:
        Settings.model_rebuild(force=True)
    except Exception as exc:
        # A model pydantic cannot build (an annotation it cannot resolve) must not leave the
        # settings of every other section broken: take it back out, and say which it was.
        del Settings.model_fields[name]
        del Settings.__annotations__[name]
        Settings.model_rebuild(force=True)
        raise ConfigError(
            f"settings section {name!r}: {model.__qualname__} cannot be built ({exc})"
        ) from exc
    _SECTION_MODELS[model.__name__] = model


_SECTION_MODELS: dict[str, type[BaseModel]] = {}


def __getattr__(name: str) -> Any:
    # The built-in adapters' models, imported from here before each adapter owned its own.
    if not name.startswith("_"):
        _register_builtin_sections()
    model = _SECTION_MODELS.get(name)
    if model is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return model


_builtin_registered = False


def _register_builtin_sections() -> None:
    # The built-in adapters name their sections in waiter_sdk.adapters (each model in a module
    # that imports pydantic only), so a new adapter never edits this module. Done on first use,
    # not at import: those modules import this one.
    global _builtin_registered
    if _builtin_registered:
        return
    _builtin_registered = True
    from .adapters import SETTINGS

    for name, where in SETTINGS.items():
        module, _, attr = where.partition(":")
        register_settings(name, getattr(importlib.import_module(module), attr))


def find_toml(path: str | Path = "waiter.toml") -> Path | None:
    """The ``waiter.toml`` that ``Settings`` will read, if present in the working directory."""
    candidate = Path(path)
    return candidate if candidate.is_file() else None
