"""Fixtures of the storage suite: ``storage_url``, which runs a test once per backend (memory,
SQLite in a temporary directory, Redis).

The Redis cases use the ``redis_server`` fixture of ``tests/conftest.py`` (``tests/redis_kit.py``):
one real redis-server on loopback per run, a database of its own per test. Without redis-server
they skip with the reason, except under ``CI=true``, where they must run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.redis_kit import RedisServer


@pytest.fixture(params=["memory", "sqlite", "redis"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store of each backend in turn."""
    if request.param == "memory":
        return "memory"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'waiter.db'}"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url()


@pytest.fixture(params=["sqlite", "redis"])
def durable_storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store of each backend that outlives the app using it: a second app (a second
    Simulator) on the same address sees what the first wrote. Memory is left out: its data
    ends with its app."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'durable.db'}"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url()
