"""The sandbox's pieces without a server: the access rules, the state, the fan-out."""

from __future__ import annotations

import asyncio

import pytest

from waiter_sdk._tasks import TaskSet
from waiter_sdk.adapters.sandbox import hub as hub_module
from waiter_sdk.adapters.sandbox.hub import Hub
from waiter_sdk.adapters.sandbox.protocol import FrameError, SendMessage, parse_frame
from waiter_sdk.adapters.sandbox.security import check_bind, check_request, is_loopback
from waiter_sdk.adapters.sandbox.state import SandboxState, render_chain
from waiter_sdk.config import SandboxSettings
from waiter_sdk.events import At, Face, Image, MessageChain, Plain, Reply, Segment
from waiter_sdk.exceptions import ConfigError


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.4.5", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.10", False),
        ("example.org", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    if loopback:
        check_bind(SandboxSettings(host=host))
    else:
        with pytest.raises(ConfigError, match=r"'sandbox\.token'"):
            check_bind(SandboxSettings(host=host))
        check_bind(SandboxSettings(host=host, token="long-secret"))


def test_request_rules() -> None:
    plain = SandboxSettings()
    locked = SandboxSettings(host="0.0.0.0", token="tok")
    assert check_request("127.0.0.1:8080", None, None, plain, websocket=False) is None
    assert check_request("localhost:8080", None, None, plain, websocket=False) is None
    assert check_request("[::1]:8080", None, None, plain, websocket=False) is None
    rebound = check_request("evil.example:8080", None, None, plain, websocket=False)
    assert rebound is not None
    assert rebound.status == 403
    missing = check_request("host:1", None, None, locked, websocket=False)
    assert missing is not None
    assert missing.status == 401
    wrong = check_request("host:1", None, "tok2", locked, websocket=False)
    assert wrong is not None
    assert wrong.status == 403
    assert check_request("host:1", None, "tok", locked, websocket=False) is None
    same = check_request("host:1", "http://host:1", "tok", locked, websocket=True)
    assert same is None
    foreign = check_request("host:1", "https://evil.example", "tok", locked, websocket=True)
    assert foreign is not None
    assert foreign.status == 403
    opaque = check_request("127.0.0.1:1", "null", None, plain, websocket=True)
    assert opaque is not None
    assert opaque.status == 403


def test_frames_are_parsed_and_bounded() -> None:
    frame = parse_frame(
        '{"type": "send", "conv": "group:g1", "sender": "alice", '
        '"parts": [{"type": "text", "text": "hi"}, {"type": "at", "user_id": "bot"}]}'
    )
    assert isinstance(frame, SendMessage)
    assert frame.reply_to is None
    too_long = (
        '{"type": "send", "conv": "group:g1", "sender": "alice", '
        '"parts": [{"type": "text", "text": "%s"}]}'
    )
    with pytest.raises(FrameError, match="has 4,001 characters; the limit is 4,000"):
        parse_frame(too_long % ("x" * 4001))
    with pytest.raises(FrameError, match="control characters"):
        parse_frame('{"type": "add_user", "name": "a\\u0000b"}')
    with pytest.raises(FrameError, match="Extra inputs"):
        parse_frame('{"type": "add_group", "name": "x", "admin": true}')


def test_chains_render_as_data_never_markup() -> None:
    chain = MessageChain(
        [
            Reply("3"),
            Plain("<img src=x onerror=alert(1)>"),
            At("bob"),
            Image("https://example.org/a.png"),
            Image("/etc/passwd"),
            Image("base64://iVBORw0KGgo="),
            Face("14"),
            Segment("poke", {"id": "1"}),
        ]
    )
    parts = render_chain(chain, {"bob": "Bob"})
    assert parts == [
        {"type": "text", "text": "<img src=x onerror=alert(1)>"},
        {"type": "at", "user_id": "bob", "name": "Bob"},
        {"type": "image", "url": "https://example.org/a.png"},
        {"type": "image", "url": None, "label": "/etc/passwd"},
        {"type": "image", "url": "data:image/png;base64,iVBORw0KGgo="},
        {"type": "face", "id": "14"},
        {"type": "other", "kind": "poke"},
    ]


def test_state_keeps_names_unique_and_history_bounded() -> None:
    state = SandboxState(history_limit=2, max_users=5)
    assert state.add_user("Dave") == "dave"
    with pytest.raises(ValueError, match="already taken"):
        state.add_user("Dave")
    assert state.add_user("dave!") == "dave2"  # same slug, different name: a fresh id
    with pytest.raises(ValueError, match="at most 5 users"):
        state.add_user("Erin")
    assert state.add_group("Chess") == "g2"
    ids = []
    for n in range(3):
        message_id = state.next_id()
        ids.append(message_id)
        state.record("group:g1", "alice", MessageChain([f"m{n}"]), message_id=message_id, now=n)
    assert [r["id"] for r in state.history("group:g1")] == ids[1:]
    assert state.get(ids[0]) is None  # evicted from the index too, so memory stays bounded
    quoted = state.record(
        "group:g1", "bot", MessageChain(["ok"]), message_id="99", now=5.0, reply_to=ids[2]
    )
    assert quoted["quote"] == {
        "id": ids[2],
        "sender_id": "alice",
        "sender_name": "Alice",
        "text": "m2",
    }


class _StuckSocket:
    """A page that never reads: every send waits forever."""

    def __init__(self) -> None:
        self.closed_with: int | None = None

    async def send_str(self, text: str) -> None:
        await asyncio.Event().wait()

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        self.closed_with = code
        return True


async def test_a_page_that_stops_reading_is_dropped_not_buffered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hub_module, "CLIENT_QUEUE", 3)
    tasks = TaskSet()
    hub = Hub(tasks)
    socket = _StuckSocket()
    hub.join(socket, "test", {"type": "snapshot"})  # type: ignore[arg-type]
    for n in range(6):
        hub.broadcast({"type": "log", "n": n})
    await asyncio.sleep(0)
    assert len(hub) == 0
    assert socket.closed_with == 1013  # try again later: the page reconnects for a snapshot
    await tasks.aclose()
