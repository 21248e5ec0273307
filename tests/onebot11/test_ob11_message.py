"""CQ codes both ways, segments to components and back."""

from __future__ import annotations

from pathlib import Path

import pytest

from waiter_sdk import At, AtAll, Face, Image, MessageChain, Plain, Reply, Segment
from waiter_sdk.adapters.onebot11 import (
    cq_escape,
    cq_unescape,
    from_segments,
    image_from_bytes,
    parse_cq,
    parse_message,
    to_cq,
    to_segments,
)

from .fake import cq as fake_cq


def test_text_escaping_leaves_commas_alone() -> None:
    assert cq_escape("a&b [c], d") == "a&amp;b &#91;c&#93;, d"
    assert cq_escape("a,b", in_param=True) == "a&#44;b"


def test_unescape_does_amp_last() -> None:
    # "&amp;#91;" is the escaped form of the literal text "&#91;", not of "[".
    assert cq_unescape("&amp;#91;") == "&#91;"
    assert cq_unescape("&#91;x&#93;&#44;&amp;") == "[x],&"
    assert cq_unescape("&unknown; & plain") == "&unknown; & plain"


@pytest.mark.parametrize(
    "text", ["&", "[", "]", ",", "&amp;#91;", "[CQ:face,id=1]", "a=b,c=d", "&#44;", "混合 [x] & y"]
)
def test_round_trip_through_cq_strings(text: str) -> None:
    segments = [
        {"type": "text", "data": {"text": text}},
        {"type": "share", "data": {"url": "https://e.org/?a=1&b=2", "title": text}},
    ]
    rendered = to_cq(segments)
    assert parse_cq(rendered) == segments
    # The fake's independent codec agrees both ways.
    assert fake_cq.parse(rendered) == segments
    assert parse_cq(fake_cq.render(segments)) == segments


def test_parse_cq_codes_and_text() -> None:
    message = "hi [CQ:at,qq=42,name=B&#44;ob] [CQ:face,id=178]&#91;ok&#93;[CQ:shake]"
    assert parse_cq(message) == [
        {"type": "text", "data": {"text": "hi "}},
        {"type": "at", "data": {"qq": "42", "name": "B,ob"}},
        {"type": "text", "data": {"text": " "}},
        {"type": "face", "data": {"id": "178"}},
        {"type": "text", "data": {"text": "[ok]"}},
        {"type": "shake", "data": {}},
    ]


def test_parameter_values_keep_equals_signs_and_spaces() -> None:
    (segment,) = parse_cq("[CQ:image,file=a.png,url=https://x/y?a=1&amp;b=2 c]")
    assert segment["data"] == {"file": "a.png", "url": "https://x/y?a=1&b=2 c"}


def test_unclosed_code_stays_text() -> None:
    assert parse_cq("[CQ:face,id=1") == [{"type": "text", "data": {"text": "[CQ:face,id=1"}}]


def test_parse_message_accepts_every_shape() -> None:
    array = [{"type": "text", "data": {"text": "x"}}]
    assert parse_message(array) == array
    assert parse_message({"type": "text", "data": {"text": "x"}}) == array
    assert parse_message("x") == array
    assert parse_message(None) == []
    assert parse_message([{"type": "face"}, "bare"]) == [
        {"type": "face", "data": {}},
        {"type": "text", "data": {"text": "bare"}},
    ]
    with pytest.raises(TypeError):
        parse_message(42)


def test_segments_become_components() -> None:
    chain = from_segments(
        [
            {"type": "reply", "data": {"id": -12}},
            {"type": "at", "data": {"qq": 42, "name": "Bob"}},
            {"type": "at", "data": {"qq": "all"}},
            {"type": "text", "data": {"text": " hi"}},
            {"type": "face", "data": {"id": 178}},
            {"type": "image", "data": {"file": "a.image", "url": "https://x/a.png"}},
            {"type": "mface", "data": {"emoji_package_id": 244959, "summary": "[摸头]"}},
        ]
    )
    assert list(chain) == [
        Reply("-12"),
        At("42", "Bob"),
        AtAll(),
        Plain(" hi"),
        Face("178"),
        Image("a.image", "https://x/a.png"),
        Segment("mface", {"emoji_package_id": 244959, "summary": "[摸头]"}),
    ]
    assert chain.plain_text == " hi"
    assert chain[-1].data["emoji_package_id"] == 244959  # non-string values survive


def test_outgoing_segments_put_the_reply_first_and_drop_nulls() -> None:
    chain = MessageChain(
        [
            Plain("see "),
            At("42"),
            Reply("7"),
            Face("1"),
            AtAll(),
            Segment("music", {"type": "qq", "id": "1", "content": None}),
        ]
    )
    assert to_segments(chain) == [
        {"type": "reply", "data": {"id": "7"}},
        {"type": "text", "data": {"text": "see "}},
        {"type": "at", "data": {"qq": "42"}},
        {"type": "face", "data": {"id": "1"}},
        {"type": "at", "data": {"qq": "all"}},
        {"type": "music", "data": {"type": "qq", "id": "1"}},
    ]
    assert to_segments(MessageChain(["x"]), reply_to="9")[0] == {
        "type": "reply",
        "data": {"id": "9"},
    }
    # a Reply in the chain wins over reply_to
    assert to_segments(MessageChain([Reply("1")]), reply_to="9") == [
        {"type": "reply", "data": {"id": "1"}}
    ]


def test_images_from_url_path_and_bytes(tmp_path: Path) -> None:
    picture = tmp_path / "cat.png"
    picture.write_bytes(b"\x89PNG")

    def file_of(image: Image) -> str:
        (segment,) = to_segments(MessageChain([image]))
        assert segment["type"] == "image"
        return str(segment["data"]["file"])

    assert file_of(Image("https://e.org/cat.png")) == "https://e.org/cat.png"
    assert file_of(Image(str(picture))) == picture.as_uri()
    assert file_of(Image(picture.as_uri())) == picture.as_uri()
    assert file_of(image_from_bytes(b"\x89PNG")) == "base64://iVBORw=="
    assert file_of(Image("data:image/png;base64,iVBORw==")) == "base64://iVBORw=="
    assert file_of(Image("abc.image")) == "abc.image"  # an id the implementation gave us


def test_components_survive_the_wire_round_trip() -> None:
    chain = MessageChain(
        [Reply("5"), At("42"), Plain(" a,b & [c]"), Face("2"), Image("https://x/y")]
    )
    back = from_segments(parse_cq(to_cq(to_segments(chain))))
    assert list(back) == list(chain)
