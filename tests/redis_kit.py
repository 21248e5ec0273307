"""A real redis-server on loopback for the suites that need one (storage, cluster).

redis-server comes from Debian's package (``scripts/test`` installs it when run as root). It is
started once per test run on a free loopback port, with no persistence and no config file, and
each test gets a database of its own (``RedisServer.url()``). Without redis-server or redis-py
the Redis cases skip with the reason, except under ``CI=true``, where they must run.

The ``redis_server`` fixture itself lives in ``tests/conftest.py``, so every package sees the
same one server per run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["RedisServer", "free_port", "missing", "redis_server_for"]


def missing(problem: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true requires the Redis tests to run: {problem}")
    pytest.skip(problem)


def free_port() -> int:
    """A free loopback port (bound, then released): nothing listens there for a moment."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process; ``restart()`` keeps its port (for reconnection tests)."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._next_db = 0

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--databases",
                "1000",
                "--dir",
                str(self.workdir),
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Wait (real time, bounded) until it accepts connections: this is set-up, not a test.
        give_up = time.monotonic() + 10
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
            if self.process.poll() is not None or time.monotonic() > give_up:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def url(self, db: int | None = None) -> str:
        """The address of a database of its own (the next free one, unless ``db`` is given)."""
        if db is None:
            db = self._next_db = self._next_db + 1
        return f"redis://127.0.0.1:{self.port}/{db}"


def redis_server_for(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The body of the ``redis_server`` fixture: skip (fail under CI=true) without Redis."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server is not installed (scripts/test installs it as root)")
        raise AssertionError("unreachable")
    try:
        import redis  # noqa: F401
    except ImportError:
        missing("redis-py is not installed (pip install 'waiter-sdk[redis]')")
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
