"""``wire``: orjson where it agrees with the standard library, the standard library where not."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from waiter_sdk.adapters.onebot11 import wire

from .conftest import rig

FRAME = {
    "post_type": "message",
    "message_type": "group",
    "self_id": 10001,
    "user_id": 601,
    "group_id": 8001,
    "message_id": -2_147_483_000,
    "time": 1_760_000_000,
    "message": [{"type": "text", "data": {"text": "你好 😀 [x]"}}],
    "sender": {"nickname": "阿", "card": "", "role": "member", "level": 1.5},
    "anonymous": None,
    "flags": [True, False, None],
}


@pytest.fixture
def no_stdlib_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("decoded by json.loads, not orjson")

    monkeypatch.setattr(wire.json, "loads", refuse)


@pytest.mark.usefixtures("no_stdlib_decode")
@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_ordinary_frames_decode_through_orjson(ensure_ascii: bool) -> None:
    text = json.dumps(FRAME, ensure_ascii=ensure_ascii)
    assert wire.loads(text) == FRAME
    assert wire.loads(text.encode()) == FRAME
    # 18 digits, within 64 bits, keep the fast path
    assert wire.loads('{"id": 123456789012345678}') == {"id": 123456789012345678}


@pytest.mark.parametrize(
    "text",
    [
        '{"text": "half \\ud83d"}',  # a lone surrogate escape, as Node.js implementations send
        '{"text": "\\udc00\\ud83d"}',
        '{"text": "half \ud83d"}',  # the surrogate itself, in a str
    ],
)
def test_lone_surrogates_decode_as_the_stdlib_does(text: str) -> None:
    assert wire.loads(text) == json.loads(text)
    assert "\ud83d" in wire.loads(text)["text"]


def test_non_finite_numbers_decode_as_the_stdlib_does() -> None:
    got = wire.loads('{"n": NaN, "i": -Infinity, "big": 1e400}')
    assert math.isnan(got["n"]) and got["i"] == -math.inf and got["big"] == math.inf


@pytest.mark.parametrize(
    "number",
    [2**64, 2**64 + 1, -(2**63) - 1, 10**30 + 7, 2**63, -(2**63), 2**64 - 1],
)
def test_integers_past_64_bits_stay_exact(number: int) -> None:
    # orjson would turn the first four into floats, losing the last digits
    for data in (f'{{"message_id": {number}}}', f'{{"message_id": {number}}}'.encode()):
        value = wire.loads(data)["message_id"]
        assert type(value) is int and value == number


def test_byte_order_marks_and_utf16_as_the_stdlib_reads_them() -> None:
    assert wire.loads('{"a": "é"}'.encode("utf-16")) == {"a": "é"}
    assert wire.loads('{"a": "é"}'.encode("utf-8-sig")) == {"a": "é"}
    with pytest.raises(ValueError, match="BOM"):  # in text, the stdlib refuses a BOM
        wire.loads('\ufeff{"a": 1}')


def test_invalid_utf8_is_a_value_error() -> None:
    with pytest.raises(UnicodeDecodeError):  # a ValueError, as json.loads raises it
        wire.loads(b'{"post_type": "\xff\xfe"}')


@pytest.mark.parametrize("text", ["", "{", "{'a': 1}", "[1,]", '{"a": 1} x', "nul", "01"])
def test_malformed_json_is_the_stdlib_error(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):  # a ValueError
        wire.loads(text)
    with pytest.raises(json.JSONDecodeError):
        wire.loads(text.encode())


def test_nesting() -> None:
    # Past what either decoder takes: a RecursionError, as json.loads raises (callers drop it).
    for deep in ("[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000):
        with pytest.raises(RecursionError):
            wire.loads(deep)
    # orjson takes up to 1,024 levels, more than the interpreter's recursion limit lets the
    # stdlib take.
    value = wire.loads("[" * 1020 + "]" * 1020)
    for _ in range(1019):
        (value,) = value
    assert value == []


def test_dumps_writes_text_as_is() -> None:
    text = wire.dumps({"action": "send_msg", "params": {"message": "你好 😀"}, "echo": "e1"})
    assert "你好 😀" in text
    assert json.loads(text) == {
        "action": "send_msg",
        "params": {"message": "你好 😀"},
        "echo": "e1",
    }


@pytest.mark.parametrize(
    "params",
    [
        {"message": "half \ud83d"},  # orjson: str is not valid UTF-8
        {"id": 2**64 + 1},  # orjson: integer exceeds 64-bit range
        {1: "x"},  # orjson: dict key must be str
    ],
)
def test_dumps_falls_back_to_the_stdlib(params: dict[Any, Any]) -> None:
    text = wire.dumps(params)
    assert text == json.dumps(params, ensure_ascii=False)


def test_dumps_keeps_a_lone_surrogate_for_the_caller_to_escape() -> None:
    text = wire.dumps({"message": "half \ud83d"})
    assert "\ud83d" in text
    with pytest.raises(UnicodeEncodeError):  # what WsChannel.call catches to send it escaped
        text.encode()


def test_dumps_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(TypeError):
        wire.dumps({"a": {1, 2}})
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    with pytest.raises(ValueError, match="Circular"):
        wire.dumps(cycle)


def test_dumps_writes_non_finite_floats_as_null() -> None:
    # The stdlib wrote NaN, which JSON does not have and no implementation reads.
    assert wire.dumps({"a": math.nan, "b": math.inf}) == '{"a":null,"b":null}'


async def test_a_call_that_cannot_be_encoded_leaves_nothing_pending() -> None:
    async with rig("reverse_ws") as r:
        (channel,) = r.adapter._channels
        with pytest.raises(TypeError):
            await r.adapter.call_action("set_thing", value={1, 2})
        assert channel.pending == 0
        assert (await r.adapter.call_action("get_login_info"))["user_id"] == 10001
