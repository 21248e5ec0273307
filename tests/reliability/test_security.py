"""Security: constant-time checks, secrets kept out of logs and errors, forged signatures,
and a size limit on every HTTP endpoint of both servers.

Already covered elsewhere (see docs/reliability.md): refusal before the WebSocket upgrade
(tests/onebot11/test_ob11_auth.py, tests/sandbox/test_server.py), the sandbox's loopback rule and
escaping in a real browser (tests/sandbox, tests/e2e), session keys that cannot be forged
(tests/reliability/test_hostile_input.py).
"""

from __future__ import annotations

import ast
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import waiter_sdk
from tests.onebot11.fake import FakeOneBot
from waiter_sdk import App, ConfigError
from waiter_sdk.adapters.onebot11 import OneBot11Adapter
from waiter_sdk.adapters.onebot11.auth import check_signature, sign
from waiter_sdk.adapters.onebot11.channel import excerpt, payload_excerpt
from waiter_sdk.adapters.sandbox import SandboxAdapter
from waiter_sdk.adapters.sandbox.protocol import MAX_FRAME_BYTES
from waiter_sdk.cli import main as cli_main
from waiter_sdk.config import OneBot11Settings, SandboxSettings, Settings

TOKEN = "Zq8vKx3pLm7T"  # distinctive, so a leak of any part of it is findable
SECRET = "Hs9dWq2NcR4y"
SANDBOX_TOKEN = "Sb5mPx8LkQ2w"
LIMIT = 4096


def leaked(text: str, *secrets: str) -> bool:
    """True if ``text`` holds any 4-character piece of a secret (a cut-off token leaks too)."""
    return any(s[i : i + 4] in text for s in secrets for i in range(len(s) - 3))


# --- constant-time comparisons -------------------------------------------------------------


def _secret_comparisons(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(
            isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops
        ):
            names = {
                n.id if isinstance(n, ast.Name) else n.attr
                for n in ast.walk(node)
                if isinstance(n, ast.Name | ast.Attribute)
            }
            if any(word in name.lower() for name in names for word in ("token", "secret")):
                found.append(ast.unparse(node))
    return found


def test_no_secret_is_compared_with_eq_anywhere_in_the_package() -> None:
    """Inspection: ``==``/``in`` on a token or a secret would leak timing."""
    package = Path(waiter_sdk.__file__).parent
    offenders = {
        str(path.relative_to(package)): found
        for path in package.rglob("*.py")
        if (found := _secret_comparisons(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert offenders == {}


@asynccontextmanager
async def spied(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[tuple[Any, Any]]]:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    yield calls


async def test_every_live_check_goes_through_compare_digest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    onebot = OneBot11Adapter(
        OneBot11Settings(port=0, modes=["reverse_ws", "http_post"], access_token=TOKEN)
    )
    signed = OneBot11Adapter(OneBot11Settings(port=0, modes=["http_post"], secret=SECRET))
    sandbox = SandboxAdapter(SandboxSettings(port=0, token=SANDBOX_TOKEN))
    app = App(settings=Settings(), adapters=[onebot, signed, sandbox])
    async with app, aiohttp.ClientSession() as http, spied(monkeypatch) as calls:
        assert onebot.server is not None and signed.server is not None
        ws_url = onebot.server.url("ws", "/onebot/v11/ws")
        headers = {"X-Self-ID": "1", "Authorization": "Bearer wrong-token"}
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(ws_url, headers=headers)
        post_url = onebot.server.url("http", "/onebot/v11/http")
        async with http.post(post_url, data=b"{}", headers=headers) as response:
            assert response.status == 403
        body = b'{"post_type": "notice"}'
        signed_url = signed.server.url("http", "/onebot/v11/http")
        async with http.post(signed_url, data=body, headers={"X-Signature": "sha1=00"}) as resp:
            assert resp.status == 403
        base = sandbox.url.split("?")[0]
        async with http.get(base, params={"token": "wrong-token"}) as response:
            assert response.status == 403
    expected = {TOKEN.encode(), sign(SECRET, body).encode(), SANDBOX_TOKEN.encode()}
    assert {b for _, b in calls} >= expected
    assert len(calls) >= 4


# --- secrets stay out of logs, errors and reprs --------------------------------------------


def test_settings_reprs_and_dumps_hide_every_secret() -> None:
    settings = Settings.load(
        onebot11={"access_token": TOKEN, "secret": SECRET}, sandbox={"token": SANDBOX_TOKEN}
    )
    for text in (
        repr(settings),
        str(settings),
        repr(settings.sandbox),
        repr(settings.onebot11),
        settings.model_dump_json(),
    ):
        assert not leaked(text, TOKEN, SECRET, SANDBOX_TOKEN), text


@pytest.mark.parametrize(
    "toml",
    [
        "[onebot11]\naccess_token = 98765432123\n",  # a numeric token left unquoted
        "[onebot11]\nsecret = 98765432123\n",
        "[sandbox]\ntoken = 98765432123\n",
        '[sandbox]\ntoken = ["98765432123"]\n',
    ],
)
def test_config_errors_name_the_secret_setting_but_not_its_value(
    toml: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    logs: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "waiter.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Settings.load()
    assert "token" in str(caught.value) or "secret" in str(caught.value)
    assert "98765" not in str(caught.value)
    # built directly, not through load(): pydantic's own message must not show it either
    section, key = toml.split("]")[0].strip("["), toml.split("\n")[1].split(" =")[0]
    with pytest.raises(ValidationError) as direct:
        Settings(**{section: {key: 98765432123}})
    assert "98765" not in str(direct.value)
    # and the command line prints the error without the value
    assert cli_main(["check"]) == 2
    printed = capsys.readouterr()
    assert "token" in printed.err or "secret" in printed.err
    assert "98765" not in printed.out + printed.err
    assert not any("98765" in line for line in logs)


async def test_auth_failures_never_log_a_secret(logs: list[str]) -> None:
    onebot = OneBot11Adapter(
        OneBot11Settings(
            port=0, modes=["reverse_ws", "http_post"], access_token=TOKEN, secret=SECRET
        )
    )
    sandbox = SandboxAdapter(SandboxSettings(port=0, token=SANDBOX_TOKEN))
    fake = FakeOneBot(1, token=TOKEN + "x")  # a near miss must not be echoed either
    async with App(settings=Settings(), adapters=[onebot, sandbox]):
        assert onebot.server is not None
        ws_url = onebot.server.url("ws", "/onebot/v11/ws")
        for token in (None, "", TOKEN[:-1], TOKEN + "x"):
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await fake.connect_reverse(ws_url, token=token or "", auth="bearer")
        post_url = onebot.server.url("http", "/onebot/v11/http")
        body = json.dumps({"post_type": "notice", "pad": TOKEN * 3, "s": SECRET}).encode()
        for signature in (None, "sha1=" + "0" * 40, sign(SECRET + "x", body)):
            headers = {"X-Signature": signature} if signature else {}
            assert await fake.post(post_url, body, headers) in (401, 403)
        # a frame that carries the secrets: its logged excerpt masks them, even cut in half
        garbage = b"{" + b"." * 55 + TOKEN.encode() + SECRET.encode() * 10
        assert await fake.post(post_url, garbage, {"X-Signature": sign(SECRET, garbage)}) == 400
        base = sandbox.url.split("?")[0]
        async with aiohttp.ClientSession() as http:
            for params in ({}, {"token": SANDBOX_TOKEN[:-1]}, {"token": SANDBOX_TOKEN + "x"}):
                async with http.get(base, params=params) as response:
                    assert response.status in (401, 403)
                with pytest.raises(aiohttp.WSServerHandshakeError):
                    await http.ws_connect(base + "ws", params=params)
    await fake.close()
    assert logs  # the refusals were logged ...
    assert not any(leaked(line, TOKEN, SECRET, SANDBOX_TOKEN) for line in logs)  # ... bare


def test_log_excerpts_mask_a_secret_even_where_they_cut_it() -> None:
    hidden = (TOKEN, SECRET)
    for position in range(90):
        text = "." * position + TOKEN + "," + SECRET + "-" * 300
        for shown in (
            excerpt(text, hidden),
            excerpt(text.encode(), hidden),
            payload_excerpt({"comment": text, "list": [text], text: 1}, hidden),
        ):
            assert not leaked(shown, TOKEN, SECRET), (position, shown)
            assert len(shown) < 120


# --- forged signatures ---------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=200), forged=st.text(max_size=60), key=st.text(max_size=20))
def test_no_forged_signature_is_accepted(body: bytes, forged: str, key: str) -> None:
    genuine = sign(SECRET, body)
    if forged.strip().lower() == genuine:
        return
    assert check_signature(SECRET, body, forged) in (401, 403)
    if key != SECRET:  # signed with another key
        assert check_signature(SECRET, body, sign(key, body)) == 403
    if body:  # signed, then tampered with
        tampered = bytes([body[0] ^ 1]) + body[1:]
        assert check_signature(SECRET, tampered, genuine) == 403


# --- request size limits on every endpoint -------------------------------------------------


def _endpoints(web_app: Any) -> list[tuple[str, str]]:
    """Every (method, path) the server routes, dynamic parts filled with a served value."""
    found = set()
    for route in web_app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter", "").replace("{name}", "app.js")
        if route.method != "HEAD":  # aiohttp adds HEAD beside each GET: same handler
            found.add((route.method, path))
    return sorted(found)


async def _statuses(http: aiohttp.ClientSession, method: str, url: str, limit: int) -> list[int]:
    """Answers to a body one byte over ``limit``: with a Content-Length, then chunked."""

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit still holds
        for _ in range(limit // 1024 + 2):
            yield b"x" * 1024

    statuses = []
    for data in (b"x" * (limit + 1), chunks()):
        async with http.request(method, url, data=data) as response:
            statuses.append(response.status)
    return statuses


async def test_every_http_endpoint_refuses_an_oversized_body(logs: list[str]) -> None:
    onebot = OneBot11Adapter(
        OneBot11Settings(
            port=0, modes=["reverse_ws", "http_post"], access_token=TOKEN, max_body_size=LIMIT
        )
    )
    sandbox = SandboxAdapter(SandboxSettings(port=0))
    async with App(settings=Settings(), adapters=[onebot, sandbox]):
        assert onebot.server is not None and sandbox._runner is not None
        servers = [
            (onebot.server.url("http", ""), onebot.server.app, LIMIT),
            (sandbox.url.rstrip("/"), sandbox._runner.app, MAX_FRAME_BYTES),
        ]
        answers: dict[str, list[int]] = {}
        async with aiohttp.ClientSession() as http:
            for base, web_app, limit in servers:
                for method, path in _endpoints(web_app):
                    answers[f"{method} {path}"] = await _statuses(http, method, base + path, limit)
            # both servers still serve
            async with http.get(sandbox.url + "static/app.js") as response:
                assert response.status == 200
            notice = json.dumps({"post_type": "notice", "notice_type": "x"}).encode()
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with http.post(
                servers[0][0] + "/onebot/v11/http", data=notice, headers=headers
            ) as response:
                assert response.status == 204
    assert len(answers) == 11  # 6 reverse WS paths, 2 HTTP POST paths, 3 sandbox routes
    assert {k: v for k, v in answers.items() if v != [413, 413]} == {}
    assert not any(line.startswith(("ERROR", "CRITICAL")) for line in logs)


async def test_oversized_headers_and_urls_are_refused_and_the_server_lives() -> None:
    onebot = OneBot11Adapter(OneBot11Settings(port=0, modes=["http_post"]))
    async with App(settings=Settings(), adapters=[onebot]), aiohttp.ClientSession() as http:
        assert onebot.server is not None
        url = onebot.server.url("http", "/onebot/v11/http")
        async with http.post(url, data=b"{}", headers={"X-Pad": "x" * 100_000}) as response:
            assert response.status in (400, 431)
        async with http.post(url + "?q=" + "x" * 100_000, data=b"{}") as response:
            assert response.status in (400, 414)
        body = json.dumps({"post_type": "notice", "notice_type": "x"}).encode()
        async with http.post(url, data=body) as response:
            assert response.status == 204
