"""The Satori parsing entry points under fuzzed input: only documented errors escape.

``parse_event`` may raise ``EventError`` and nothing else; ``from_content`` never raises on a
string, and what it reads it writes back (``to_content``) so that reading again gives the same
components; components written and read back are the same components. The event socket's frame
reader takes any frame without raising and still delivers the good event after it. Hostile
frames over a live connection to the real server are in ``test_satori_hostile_frames.py``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from waiter_sdk import At, AtAll, Event, EventError, Face, Image, MessageChain, MessageEvent, Plain
from waiter_sdk._tasks import TaskSet
from waiter_sdk.adapters.satori import SatoriSettings, from_content, parse_event, to_content
from waiter_sdk.adapters.satori.event_socket import EventSocket
from waiter_sdk.events import Component, Reply, Segment

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63, -(2**63) - 1, 10**309])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

# Content made of what matters to the element syntax, so the parser meets real edge cases.
element_text = st.lists(
    st.sampled_from(
        [
            *"<>/=\"' \n&#;abx1",
            "<at",
            "<b>",
            "</b>",
            "<!--",
            "-->",
            "&amp;",
            "&#x",
            "&lt;",
            '<at id="1"/>',
            "<quote",
            " id=",
            "<img src='",
            "no-",
            "<br/>",
            "\u00a0",
        ]
    ),
    max_size=40,
).map("".join)
contents = element_text | st.text(max_size=80)


def resource(keys: list[str]) -> st.SearchStrategy[Any]:
    return json_values | st.dictionaries(st.sampled_from(keys), json_values | st.text(max_size=6))


bodies = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["message-created", "guild-member-added", "friend-request", "login-added", "x"]
        )
        | json_values
    },
    optional={
        "sn": json_values,
        "timestamp": json_values,
        "login": json_values
        | st.fixed_dictionaries(
            {"platform": st.text(max_size=5) | json_values},
            optional={"user": resource(["id", "name"]), "self_id": json_values},
        ),
        "channel": resource(["id", "type", "name"]),
        "guild": resource(["id", "name"]),
        "user": resource(["id", "name", "nick"]),
        "member": resource(["nick", "roles", "user"]),
        "message": json_values
        | st.fixed_dictionaries(
            {"id": json_values, "content": contents | json_values},
            optional={
                "channel": resource(["id", "type"]),
                "user": resource(["id"]),
                "quote": resource(["id"]),
            },
        ),
        "platform": json_values,
        "self_id": json_values,
    },
)


def _check(event: Event | None) -> None:
    if event is None:
        return
    assert isinstance(event.self_id, str)
    if isinstance(event, MessageEvent):
        assert isinstance(event.sender_id, str) and event.sender_id
        assert event.group_id is None or isinstance(event.group_id, str)
        assert isinstance(event.message_str, str)
        assert event.sender_role in (None, "owner", "admin", "member")
        assert isinstance(event.timestamp, float)


@FUZZ
@given(bodies)
@example(
    {
        "type": "message-created",
        "login": {"platform": "p", "user": {"id": "b"}},
        "channel": {"id": "c"},
        "user": {"id": "u"},
        "message": {"id": 1, "content": "<" * 5000},
    }
)
def test_parse_event_raises_only_event_error(body: dict[str, Any]) -> None:
    with contextlib.suppress(EventError):
        _check(parse_event(body))


@FUZZ
@given(contents)
def test_any_content_reads_and_writes_back_stably(content: str) -> None:
    chain = from_content(content)
    written = to_content(chain)
    assert from_content(written) == chain
    assert to_content(from_content(written)) == written


names = st.from_regex(r"[a-z][a-z0-9-]{0,6}", fullmatch=True).filter(
    lambda n: n not in {"at", "img", "image", "face", "quote", "br"}
)
texts = st.text(min_size=1, max_size=20)
leaf = st.one_of(
    texts.map(Plain),
    st.builds(At, texts, st.none() | texts),
    st.just(AtAll()),
    texts.map(lambda t: Image("https://example.org/" + t)),
    texts.map(Face),
    st.builds(
        Segment,
        names,
        st.dictionaries(
            names.filter(lambda n: n != "children" and not n.startswith("no-")),
            texts | st.booleans(),
            max_size=3,
        ),
    ),
)
components = st.recursive(
    leaf,
    lambda inner: st.builds(
        lambda kind, kids: Segment(kind, {"children": MessageChain(kids)}),
        names,
        st.lists(inner, min_size=1, max_size=3),
    ),
    max_leaves=8,
)


def normal(chain: list[Component]) -> list[Component]:
    """What reading gives back: adjacent texts joined, and so inside kept elements."""
    out: list[Component] = []
    for component in chain:
        if isinstance(component, Segment) and isinstance(
            component.data.get("children"), MessageChain
        ):
            kids = normal(list(component.data["children"]))
            component = Segment(component.kind, {**component.data, "children": MessageChain(kids)})
        if isinstance(component, Plain) and out and isinstance(out[-1], Plain):
            out[-1] = Plain(out[-1].content + component.content)
        else:
            out.append(component)
    return out


@FUZZ
@given(st.none() | texts, st.lists(components, max_size=6))
def test_components_written_and_read_back_are_the_same(
    quoted: str | None, chain: list[Component]
) -> None:
    head: list[Component] = [Reply(quoted)] if quoted else []
    sent = to_content(MessageChain([*head, *chain]))
    assert list(from_content(sent)) == head + normal(chain)


class Sink:
    def __init__(self) -> None:
        self.bodies: list[Mapping[str, Any]] = []

    def ready(self, logins: list[Mapping[str, Any]]) -> None:
        pass

    def deliver(self, body: Mapping[str, Any]) -> None:
        self.bodies.append(body)

    def disconnected(self) -> None:
        pass


frames = (
    json_values.map(json.dumps)
    | json_values.map(lambda v: json.dumps({"op": 0, "body": v}))
    | bodies.map(lambda b: json.dumps({"op": 0, "body": b}, default=str))
    | st.text(max_size=40)
    | st.binary(max_size=40)
    | st.integers(1, 5000).map(lambda n: "[" * n + "]" * n)
    | st.integers(1, 5000).map(lambda n: '{"op":' * n + "0" + "}" * n)
)
GOOD = json.dumps({"op": 0, "body": {"sn": 10**6, "type": "ok"}})


@FUZZ
@given(st.lists(frames, max_size=5))
@example(["[" * 100_000 + "]" * 100_000, b"\xff\xfe", '{"op": 0, "body": "\\ud800"}'])
def test_the_frame_reader_survives_any_frame_and_keeps_the_good_one(
    junk: list[str | bytes],
) -> None:
    sink = Sink()
    socket = EventSocket(
        sink,
        SatoriSettings(),
        None,
        TaskSet(),  # type: ignore[arg-type]  # no I/O here
    )
    for frame in [*junk, GOOD]:
        socket._frame(frame)
    assert sink.bodies[-1] == {"sn": 10**6, "type": "ok"}
