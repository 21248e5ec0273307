"""Shared fixtures: captured logs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from loguru import logger


@pytest.fixture
def logs() -> Iterator[list[str]]:
    """Every message waiter_sdk logs during the test, as 'LEVEL message' lines."""
    lines: list[str] = []
    logger.enable("waiter_sdk")
    sink = logger.add(lambda m: lines.append(f"{m.record['level'].name} {m.record['message']}"))
    try:
        yield lines
    finally:
        logger.remove(sink)
        logger.disable("waiter_sdk")
