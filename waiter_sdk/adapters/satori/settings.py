"""``SatoriSettings``: the ``[satori]`` section (``WAITER_SATORI__*``), owned by this adapter.

Imports pydantic only, so that ``Settings`` can know the section without importing the adapter.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from ...config import Section

__all__ = ["SatoriSettings"]


class SatoriSettings(Section):
    """The Satori adapter (Koishi's server plugin, satori-python's server, any Satori SDK).

    Usage: ``WAITER_SATORI__URL=http://127.0.0.1:5140 WAITER_SATORI__TOKEN=s3cret``, or
    ``SatoriAdapter(SatoriSettings(url="http://127.0.0.1:5140"))``. Every field is described in
    docs/adapters/satori.md. The token is a ``SecretStr`` so that a printed or logged settings
    object never shows it.
    """

    url: str = Field(
        default="http://127.0.0.1:5140",
        description="Base HTTP URL of the Satori server, with its deployment path if any and "
        "without the version ('/v1'); the event WebSocket is derived from it (ws://.../v1/events).",
    )
    token: SecretStr | None = Field(
        default=None,
        description="Token the server requires: sent in IDENTIFY and as 'Authorization: Bearer' "
        "on every API call; empty means none.",
    )
    ping_interval: float = Field(
        default=10.0,
        gt=0,
        le=10.0,
        description="Seconds between PINGs on the event WebSocket (the protocol asks for one "
        "at least every 10 s).",
    )
    pong_timeout: float = Field(
        default=5.0,
        gt=0,
        description="Seconds to wait for the PONG of a PING; none in time means the "
        "connection is dead, and it is closed and opened again.",
    )
    identify_timeout: float = Field(
        default=10.0, gt=0, description="Seconds to wait for READY after sending IDENTIFY."
    )
    connect_timeout: float = Field(
        default=10.0, gt=0, description="Seconds to open the event WebSocket or an HTTP connection."
    )
    request_timeout: float = Field(
        default=30.0, gt=0, description="Seconds an API call (message.create, ...) may take."
    )
    reconnect_interval: float = Field(
        default=1.0, gt=0, description="First delay before reconnecting the event WebSocket."
    )
    reconnect_max: float = Field(
        default=60.0, gt=0, description="Cap of the doubling reconnect delay."
    )
    max_message_size: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="Largest WebSocket frame accepted, bytes."
    )
    replay_window: int = Field(
        default=10_000,
        ge=0,
        description="How many recent events (by sn) are remembered so that one the server "
        "sends again after a resume is dropped (0: off).",
    )
    drop_self_messages: bool = Field(
        default=True, description="Drop messages whose author is the bot's own login."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL, e.g. http://127.0.0.1:5140")
        # '/v1' is added by the adapter; a URL copied with it still works.
        if value.endswith("/v1"):
            value = value[: -len("/v1")]
        return value

    @field_validator("token", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        # A config template's "" means "no token": treat it as unset.
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return value
