"""Lazy package attributes: an adapter package imports its modules when a name is first used.

So that ``Settings`` can read an adapter's settings model (a module that imports pydantic only)
without importing the adapter itself (aiohttp and the rest).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``name`` from ``.where[name]``."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        setattr(importlib.import_module(package), name, value)  # later lookups: plain attributes
        return value

    return __getattr__
