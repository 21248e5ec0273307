"""A real Synapse homeserver on loopback for the Matrix adapter's tests and bench.

Synapse comes from PyPI (``matrix-synapse`` in the test extra) and runs as a child process of
the venv's own python, on SQLite, on a free 127.0.0.1 port, with a config this kit writes into
a temporary folder: no federation, no registration except by the shared secret, no stats, rate
limits relaxed (a test that wants a 429 tightens one user's limit through the admin API). It is
started once per test run (``tests/matrix/conftest.py``); without Synapse the tests skip with
the reason, except under ``CI=true``, where they must run.

Accounts are registered with the shared-secret flow of ``/_synapse/admin/v1/register``: ask for
a nonce, then post the HMAC-SHA1 of ``nonce NUL user NUL password NUL admin|notadmin`` keyed by
the shared secret. Everything here is synchronous (urllib), so the session fixture needs no
event loop.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.redis_kit import free_port

__all__ = ["Account", "Synapse", "missing_synapse", "synapse_missing"]

SERVER_NAME = "waiter.test"


def synapse_missing() -> str | None:
    """Why Synapse cannot run here, or ``None`` when it can."""
    try:
        import synapse  # noqa: F401
        import yaml  # noqa: F401  (Synapse's own dependency, used to write its config)
    except ImportError as exc:
        return f"matrix-synapse is not installed ({exc}); pip install -e '.[test]'"
    try:
        import nio  # noqa: F401
    except ImportError as exc:
        return f"matrix-nio is not installed ({exc}); pip install -e '.[test]'"
    return None


def missing_synapse(problem: str) -> None:
    """Skip with ``problem``, or fail under ``CI=true``, where skipping would hide the tests."""
    import pytest

    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true requires the Matrix tests to run: {problem}")
    pytest.skip(problem)


@dataclass(frozen=True)
class Account:
    """A registered user: its full id, password and an access token of its own device."""

    user_id: str
    password: str
    access_token: str
    device_id: str

    @property
    def localpart(self) -> str:
        return self.user_id[1:].split(":", 1)[0]


class Synapse:
    """One Synapse process with its config and data in ``workdir``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.shared_secret = secrets.token_urlsafe(24)
        self.config_path = workdir / "homeserver.yaml"
        self.log_path = workdir / "synapse.out"
        self.process: subprocess.Popen[bytes] | None = None
        self.started_in = 0.0  # seconds the last start took, for the test report
        self._admin: Account | None = None

    # --- process ---------------------------------------------------------------------------

    def write_config(self) -> None:
        """Generate Synapse's own config (keys, secrets), then make it a loopback test server."""
        import yaml

        subprocess.run(
            [
                sys.executable,
                "-m",
                "synapse.app.homeserver",
                "--server-name",
                SERVER_NAME,
                "--config-path",
                str(self.config_path),
                "--data-directory",
                str(self.workdir / "data"),
                "--generate-config",
                "--report-stats=no",
            ],
            check=True,
            capture_output=True,
            cwd=self.workdir,
        )
        config: dict[str, Any] = yaml.safe_load(self.config_path.read_text())
        (self.workdir / "data").mkdir(exist_ok=True)
        relaxed = {"per_second": 10_000, "burst_count": 10_000}
        config.update(
            listeners=[
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            registration_shared_secret=self.shared_secret,
            enable_registration=False,
            report_stats=False,
            trusted_key_servers=[],
            suppress_key_server_warning=True,
            federation_domain_whitelist=[],  # no federation at all
            presence={"enabled": False},
            # Every limit relaxed; the 429 test tightens one user's through the admin API.
            rc_message=relaxed,
            rc_registration=relaxed,
            rc_login={"address": relaxed, "account": relaxed, "failed_attempts": relaxed},
            rc_joins={"local": relaxed, "remote": relaxed},
            rc_invites={"per_room": relaxed, "per_user": relaxed, "per_issuer": relaxed},
            rc_room_creation=relaxed,
            rc_admin_redaction=relaxed,
            max_upload_size="10M",
            url_preview_enabled=False,
        )
        # Its log goes to a file in the work folder (the generated log config says where),
        # kept across the run for a post-mortem.
        self.config_path.write_text(yaml.safe_dump(config))

    def start(self, timeout: float = 60.0) -> None:
        """Start Synapse and wait (real time, bounded) until ``/health`` answers."""
        began = time.monotonic()
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        give_up = began + timeout
        while True:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/health", timeout=1) as answer,
            ):
                if answer.status == 200:
                    break
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Synapse exited with {self.process.returncode} at start; see {self.log_path}"
                )
            if time.monotonic() > give_up:
                raise RuntimeError(f"Synapse did not answer /health within {timeout:g} s")
            time.sleep(0.05)
        self.started_in = time.monotonic() - began

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    # --- HTTP ------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace")
            raise RuntimeError(f"{method} {path}: HTTP {exc.code} {detail}") from None

    # --- accounts --------------------------------------------------------------------------

    def register(self, localpart: str, *, admin: bool = False) -> Account:
        """Register ``localpart`` with the shared secret (nonce + HMAC-SHA1) and log it in."""
        password = secrets.token_urlsafe(12)
        nonce = self.request("GET", "/_synapse/admin/v1/register")["nonce"]
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        for part in (nonce, localpart, password):
            mac.update(part.encode())
            mac.update(b"\x00")
        mac.update(b"admin" if admin else b"notadmin")
        answer = self.request(
            "POST",
            "/_synapse/admin/v1/register",
            {
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
        )
        return Account(answer["user_id"], password, answer["access_token"], answer["device_id"])

    def login(self, account: Account) -> Account:
        """A fresh device and access token for ``account`` (password login)."""
        answer = self.request(
            "POST",
            "/_matrix/client/v3/login",
            {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": account.localpart},
                "password": account.password,
            },
        )
        return Account(
            account.user_id, account.password, answer["access_token"], answer["device_id"]
        )

    @property
    def admin(self) -> Account:
        if self._admin is None:
            self._admin = self.register("admin-" + secrets.token_hex(3), admin=True)
        return self._admin

    def limit_messages(self, user_id: str, per_second: float, burst: int) -> None:
        """Give ``user_id`` a message rate limit of its own (the admin API's override)."""
        quoted = urllib.request.quote(user_id, safe="")
        self.request(
            "POST",
            f"/_synapse/admin/v1/users/{quoted}/override_ratelimit",
            {"messages_per_second": per_second, "burst_count": burst},
            token=self.admin.access_token,
        )
