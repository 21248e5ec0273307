"""``SandboxSettings``: the ``[sandbox]`` section (``WAITER_SANDBOX__*``), owned by this adapter.

Imports pydantic only, so that ``Settings`` can know the section without importing the adapter.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from ...config import Section

__all__ = ["SandboxSettings"]


class SandboxSettings(Section):
    """The web sandbox adapter."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    token: SecretStr | None = Field(
        default=None,
        description="Required when host is not a loopback address (read it with "
        "get_secret_value(); it prints as '**********').",
    )
