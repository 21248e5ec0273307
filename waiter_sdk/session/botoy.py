"""botoy-style sessions (``start_session``). Placeholder until the session issue lands."""

from __future__ import annotations

from typing import Any

__all__ = ["start_session"]


def start_session(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("start_session is not implemented yet")
