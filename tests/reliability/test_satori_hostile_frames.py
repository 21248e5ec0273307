"""Hostile frames over a live connection to the real satori-python server: the reader, the
connection and the conversation survive, and no good event is lost.

The frames go out on the server's own event socket (``peer.py``'s ``/_peer/raw``), between
ordinary messages injected as a platform would. Each unreadable frame is logged in one short
line with the token masked; the connection is never reopened for it.
"""

from __future__ import annotations

import itertools
import json

from tests.satori_adapter.conftest import rig
from tests.satori_adapter.peer_kit import PEER_TOKEN, PeerProcess
from waiter_sdk import MessageEvent, MessageEventResult, Plugin, command, on_message

GROUP = "g-hostile"
LOGIN = {"platform": "alpha", "user": {"id": "bot-a"}}
DEEP = 100_000  # far past any recursion limit


class Count(Plugin):
    name = "count"

    @command("n")
    async def number(self, event: MessageEvent):  # type: ignore[no-untyped-def]
        yield MessageEventResult().message(f"got {' '.join(event.args)}")

    @on_message(priority=-1)
    async def size(self, event: MessageEvent) -> None:
        if len(event.message_str) > 1_000_000:  # only the giant one below
            await event.send(f"size {len(event.message_str)}")


_sns = itertools.count(10**9)


def event(content: object, **fields: object) -> str:
    # Each its own sn, so that the replay guard takes none of them for a repeat.
    body: dict[str, object] = {
        "sn": next(_sns),
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
        junks = ("<<<>>>", "<a b='", "&#xZZ; &#99999999; &", "<b>" * 20_000, "</x>" * 5)
        for junk in junks:
            await peer.inject("alice", f"/n {junk}", channel=GROUP)
        # A giant one (4 MiB of text and tags) too. Not a command: the SDK's command parser
        # (shlex) takes minutes over one 2 MB word, a cost of its own outside this adapter.
        await peer.inject("alice", "y" * 2**21 + "<b>" * 100_000 + "z" * 2**21, channel=GROUP)
        replies = [await peer.next_sent() for _ in range(len(HOSTILE) + len(junks) + 1)]
        assert [r_["content"] for r_ in replies[: len(HOSTILE)]] == expected
        assert all(str(r_["content"]).startswith("got ") for r_ in replies[:-1])
        assert replies[-1]["content"] == f"size {2**22 + 300_000}"
        assert r.adapter.socket is not None
        assert r.adapter.socket.connects == 1  # never reconnected for a bad frame
    dropped = [line for line in logs if "dropped" in line]
    assert any("not JSON" in line for line in dropped)
    assert any("nested too deeply" in line for line in dropped)
    assert any("unreadable event" in line for line in dropped)
    assert not any("already received" in line for line in logs)
    assert all(len(line) < 400 for line in dropped)  # an excerpt, never the frame
    assert not [line for line in logs if PEER_TOKEN in line]
