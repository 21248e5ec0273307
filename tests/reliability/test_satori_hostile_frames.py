"""Hostile frames over a live connection to the real satori-python server: the reader, the
connection and the conversation survive, and no good event is lost.

The frames go out on the server's own event socket (``peer.py``'s ``/_peer/raw``), between
ordinary messages injected as a platform would. Each unreadable frame is logged in one short
line with the token masked; the connection is never reopened for it.
"""

from __future__ import annotations

import json

from tests.satori_adapter.conftest import rig
from tests.satori_adapter.peer_kit import PEER_TOKEN, PeerProcess
from waiter_sdk import MessageEvent, MessageEventResult, Plugin, command

GROUP = "g-hostile"
LOGIN = {"platform": "alpha", "user": {"id": "bot-a"}}
DEEP = 100_000  # far past any recursion limit


class Count(Plugin):
    name = "count"

    @command("n")
    async def number(self, event: MessageEvent):  # type: ignore[no-untyped-def]
        yield MessageEventResult().message(f"got {' '.join(event.args)}")


def event(content: object, **fields: object) -> str:
    body: dict[str, object] = {
        "sn": 10**9,
        "type": "message-created",
        "timestamp": 1,
        "login": LOGIN,
        "channel": {"id": GROUP, "type": 0},
        "user": {"id": "mallory"},
        "message": {"id": "x", "content": content},
    }
    body.update(fields)
    return json.dumps({"op": 0, "body": body})


HOSTILE = [
    "not json at all",
    "[1, 2, 3]",
    '"a string"',
    '{"op": "0", "body": {}}',
    '{"op": 0}',
    '{"op": 0, "body": [1]}',
    '{"op": 99}',
    "[" * DEEP + "]" * DEEP,
    '{"a":' * DEEP + "1" + "}" * DEEP,
    json.dumps({"op": 0, "body": {"type": "message-created"}}),  # no login
    event(["not", "a", "string"]),
    event("x", channel={"id": [1]}),
    event("x", login={"platform": {"deep": [[[]]]}}),
    event("x", user=None),
    event("x", timestamp=10**400),
    f'{{"op": 0, "body": {{"token": "{PEER_TOKEN}"}}}}',  # a frame that quotes the token
]


async def test_hostile_frames_are_dropped_and_the_good_ones_all_arrive(
    satori_peer: PeerProcess, logs: list[str]
) -> None:
    async with rig(satori_peer, [Count]) as r:
        peer = r.peer
        expected: list[str] = []
        for n, frame in enumerate(HOSTILE):
            assert await peer.raw(frame) == 1
            await peer.inject("alice", f"/n {n}", channel=GROUP)
            expected.append(f"got {n}")
        # Messages whose content is a bad element string are still messages, read as text.
        for junk in ("<<<>>>", "<a b='", "&#xZZ; &#99999999; &", "<b>" * 20_000, "</x>" * 5):
            await peer.inject("alice", f"/n {junk}", channel=GROUP)
        replies = [await peer.next_sent() for _ in range(len(HOSTILE) + 5)]
        assert [r_["content"] for r_ in replies[: len(HOSTILE)]] == expected
        assert all(str(r_["content"]).startswith("got ") for r_ in replies)
        assert r.adapter.socket is not None
        assert r.adapter.socket.connects == 1  # never reconnected for a bad frame
    dropped = [line for line in logs if "dropped" in line]
    assert any("not JSON" in line for line in dropped)
    assert any("nested too deeply" in line for line in dropped)
    assert any("unreadable event" in line for line in dropped)
    assert all(len(line) < 400 for line in dropped)  # an excerpt, never the frame
    assert not [line for line in logs if PEER_TOKEN in line]
