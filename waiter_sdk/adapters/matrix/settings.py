"""``MatrixSettings``: the ``[matrix]`` section (``WAITER_MATRIX__*``), owned by this adapter.

Imports pydantic only, so that ``Settings`` can know the section without importing the adapter.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from ...config import Section

__all__ = ["MatrixSettings"]


class MatrixSettings(Section):
    """The Matrix adapter: one bot account on any homeserver, over the client-server API.

    Usage: ``WAITER_MATRIX__HOMESERVER=https://matrix.example.org
    WAITER_MATRIX__ACCESS_TOKEN=syt_...``, or ``MatrixAdapter(MatrixSettings(homeserver=...,
    access_token=...))``. Every field is described in docs/adapters/matrix.md. The access token
    is a ``SecretStr`` so that a printed or logged settings object never shows it.
    """

    homeserver: str = Field(
        default="",
        description="Base URL of the homeserver's client-server API, e.g. "
        "https://matrix.example.org (no path).",
    )
    access_token: SecretStr | None = Field(
        default=None, description="The bot account's access token (sent as Authorization: Bearer)."
    )
    user_id: str = Field(
        default="",
        description="The bot's full user id (@bot:example.org); empty: asked from the "
        "homeserver (/account/whoami) at start.",
    )
    sync_timeout: float = Field(
        default=30.0,
        ge=0,
        description="Seconds a /sync long poll may wait for news before the server answers.",
    )
    request_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds any other request may take (a /sync gets sync_timeout on top).",
    )
    notice: bool = Field(
        default=False,
        description="Send m.notice instead of m.text: the bot convention that other bots "
        "do not answer, so two bots never talk in a loop.",
    )
    auto_join: bool = Field(default=True, description="Join every room the bot is invited to.")
    store_since: bool = Field(
        default=True,
        description="Keep the /sync position in the app's storage, so that a restart goes on "
        "where the last run stopped instead of skipping what came meanwhile.",
    )
    direct_by_member_count: bool = Field(
        default=True,
        description="A room with exactly two joined members is a private chat, besides the "
        "rooms named in the bot's m.direct.",
    )
    reconnect_interval: float = Field(
        default=1.0, gt=0, description="First delay before retrying a failed /sync."
    )
    reconnect_max: float = Field(
        default=60.0, gt=0, description="Cap of the doubling delay between failed /syncs."
    )
    rate_limit_retries: int = Field(
        default=5,
        ge=0,
        description="Times a request refused with 429 M_LIMIT_EXCEEDED is sent again, each "
        "after the wait the server asks for.",
    )
    rate_limit_max_wait: float = Field(
        default=60.0,
        gt=0,
        description="Longest wait accepted from a 429; a longer one fails the request at once.",
    )
    max_response_size: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="Largest response body read from the homeserver, bytes (a /sync included).",
    )
    max_media_size: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest image fetched or read to upload for an Image component, bytes.",
    )

    @field_validator("homeserver")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("user_id")
    @classmethod
    def _full_id(cls, value: str) -> str:
        value = value.strip()
        if value and (not value.startswith("@") or ":" not in value):
            raise ValueError("must be a full user id such as @bot:example.org")
        return value

    @field_validator("access_token", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return value
