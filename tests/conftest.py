"""Shared fixtures: captured logs, and a real redis-server (``tests/redis_kit.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from loguru import logger

from tests.redis_kit import RedisServer, redis_server_for
from tests.satori_adapter.peer_kit import PeerProcess, peer_for


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


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server per run on a loopback port (skipped without it, failed under CI=true);
    ``redis_server.url()`` is a database of its own for each caller."""
    yield from redis_server_for(tmp_path_factory)


@pytest.fixture(scope="session")
def satori_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PeerProcess]:
    """One real satori-python server per run (``tests/satori_adapter/peer_kit.py``; skipped
    without it, failed under CI=true)."""
    yield from peer_for(tmp_path_factory)
