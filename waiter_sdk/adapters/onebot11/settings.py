"""``OneBot11Settings``: the ``[onebot11]`` section (``WAITER_ONEBOT11__*``), owned by this adapter.

Imports pydantic only, so that ``Settings`` can know the section without importing the adapter.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from ...config import Section

__all__ = ["OneBot11Settings"]


class OneBot11Settings(Section):
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
        "?access_token=); empty means none. Without a secret, HTTP POST needs it too, and "
        "implementations that post no token (go-cqhttp, NapCat) are refused: set secret.",
    )
    secret: SecretStr | None = Field(
        default=None,
        description="HMAC-SHA1 key checked against X-Signature on HTTP POST; when set, "
        "unsigned posts are refused and posts need no access token.",
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
