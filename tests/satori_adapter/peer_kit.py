"""The real satori-python server (``peer.py``) in a child process, and a client for its control API.

One server per test run (the ``satori_peer`` fixture in ``tests/satori_adapter/conftest.py``), on a free
loopback port, with a token. Without satori-python-server installed the tests that need it skip
with the reason, except under ``CI=true``, where they must run (``tests/redis_kit.py`` does the
same for redis-server).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.redis_kit import free_port

__all__ = ["PEER_TOKEN", "PeerClient", "PeerProcess", "missing", "peer_for"]

PEER_TOKEN = "peer-tok-7d1e"
SCRIPT = Path(__file__).with_name("peer.py")


def missing(problem: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true requires the Satori tests to run: {problem}")
    pytest.skip(problem)


class PeerProcess:
    """One ``peer.py`` process; ``restart()`` keeps its port (the server starts from sn 0)."""

    def __init__(self, log: Path, token: str | None = PEER_TOKEN) -> None:
        self.port = free_port()
        self.token = token
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.started_in = 0.0
        """Seconds the last start took, until the server answered (reported by the suite)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        began = time.monotonic()
        command = [sys.executable, str(SCRIPT), "--port", str(self.port)]
        if self.token:
            command += ["--token", self.token]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        # Wait (real time, bounded) until it answers: this is set-up, not a test.
        give_up = began + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the Satori peer exited with {self.process.returncode}; see {self.log}"
                )
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/_peer/health", timeout=1) as answer,
            ):
                if answer.status == 200:
                    break
            if time.monotonic() > give_up:
                self.stop()
                raise RuntimeError(f"the Satori peer did not start within 30 s; see {self.log}")
            time.sleep(0.05)
        self.started_in = time.monotonic() - began

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)  # launart's clean shutdown
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()


def peer_for(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PeerProcess]:
    """The session fixture's body: start one peer, yield it, stop it."""
    if (
        importlib.util.find_spec("satori") is None
        or importlib.util.find_spec("satori.server") is None
    ):
        missing("satori-python-server is not installed (pip install satori-python-server)")
    peer = PeerProcess(tmp_path_factory.mktemp("satori") / "peer.log")
    try:
        peer.start()
    except RuntimeError as exc:
        missing(str(exc))
    try:
        yield peer
    finally:
        peer.stop()


class PeerClient:
    """The control API of a running peer (see ``peer.py``), from a test's event loop."""

    def __init__(self, peer: PeerProcess, session: aiohttp.ClientSession) -> None:
        self.peer = peer
        self._session = session
        self.cursor = 0
        self._buffer: list[dict[str, Any]] = []
        self.taken: list[dict[str, Any]] = []
        """Every record ``next_sent`` returned, in order."""

    async def _post(self, path: str, body: Any) -> Any:
        # A stream, not bytes: aiohttp warns (an error here) on a large body given whole.
        data = io.BytesIO(json.dumps(body).encode())
        headers = {"Content-Type": "application/json"}
        url = f"{self.peer.url}/_peer/{path}"
        async with self._session.post(url, data=data, headers=headers) as answer:
            answer.raise_for_status()
            return await answer.json()

    async def _get(self, path: str, **query: Any) -> Any:
        async with self._session.get(f"{self.peer.url}/_peer/{path}", params=query) as answer:
            answer.raise_for_status()
            return await answer.json()

    async def mark(self) -> None:
        """From now on, ``next_sent`` returns only what is sent after this point."""
        self.cursor = len(await self._get("sent", after=0, wait=0))
        self._buffer = []

    async def inject(
        self,
        user: str,
        content: str,
        *,
        channel: str,
        direct: bool = False,
        login: str = "alpha",
        name: str | None = None,
        nick: str | None = None,
        roles: tuple[str, ...] = (),
        type: str = "message-created",
    ) -> dict[str, Any]:
        """One incoming event; returns ``{"sn": ..., "message_id": ...}``."""
        return await self._post(
            "inject",
            {
                "login": login,
                "type": type,
                "channel": {"id": channel, "type": 1 if direct else 0},
                "user": {"id": user, "name": name, "nick": nick, "roles": list(roles)},
                "content": content,
            },
        )

    async def next_sent(self, within: float = 5.0) -> dict[str, Any]:
        """The next message the bot sent (waits for it, up to ``within`` seconds)."""
        if not self._buffer:
            found = await self._get("sent", after=self.cursor, wait=within)
            assert found, f"the bot sent nothing within {within:g} s"
            self._buffer = list(found)
        record = self._buffer.pop(0)
        self.cursor += 1
        self.taken.append(record)
        return record

    async def sent_so_far(self) -> list[dict[str, Any]]:
        """Everything sent after the cursor until now, without waiting and without taking it."""
        return list(await self._get("sent", after=self.cursor, wait=0))

    async def drop(self, *, hold: bool = False) -> int:
        return int((await self._post("drop", {"hold": hold}))["dropped"])

    async def release(self) -> None:
        await self._post("release", {})

    async def resend(self, first_sn: int) -> int:
        return int((await self._post("resend", {"from": first_sn}))["resent"])

    async def raw(self, frame: str | bytes) -> int:
        data = frame.encode("utf-8", "surrogatepass") if isinstance(frame, str) else frame
        url = f"{self.peer.url}/_peer/raw"
        async with self._session.post(url, data=io.BytesIO(data)) as answer:
            answer.raise_for_status()
            return int((await answer.json())["sockets"])

    async def connections(self, count: int = 1, wait: float = 5.0) -> int:
        """Wait until the server lists exactly ``count`` open sockets; returns how many it lists."""
        return int((await self._get("connections", count=count, wait=wait))["count"])


def frame(op: int, body: Any = None) -> str:
    """A signal as the server would write it (for raw frames)."""
    return json.dumps({"op": op, "body": body} if body is not None else {"op": op})
