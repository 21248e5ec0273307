"""Events, components and chains."""

from __future__ import annotations

import dataclasses

import pytest

from waiter_sdk import (
    At,
    Face,
    Image,
    MessageChain,
    MessageEvent,
    MessageEventResult,
    NoticeEvent,
    Plain,
    Reply,
    Segment,
)
from waiter_sdk.events import Target, to_chain


def make(text: str = "hi", group: str | None = "g1") -> MessageEvent:
    return MessageEvent(
        platform="qq",
        self_id="10",
        message=MessageChain([text]),
        message_id="m1",
        sender_id="42",
        sender_name="Alice",
        group_id=group,
    )


def test_components_are_immutable_values() -> None:
    assert Plain("a") == Plain("a")
    assert hash(At("1")) == hash(At(1))  # ids become str
    with pytest.raises(dataclasses.FrozenInstanceError):
        Plain("a").content = "b"  # type: ignore[misc]
    seg = Segment("poke", {"qq": 1})
    with pytest.raises(TypeError):
        seg.data["qq"] = 2  # type: ignore[index]
    assert seg.type == "poke" and Face(14).id == "14" and Reply(7).message_id == "7"


def test_chain_plain_text_and_slicing() -> None:
    chain = MessageChain([Plain("hello "), At("9"), "world", Image("http://x/a.png")])
    assert chain.plain_text == "hello world"
    assert isinstance(chain[1:], MessageChain)
    assert chain[1] == At("9")
    assert (chain + ["!"]).plain_text == "hello world!"


def test_chain_refuses_other_types_with_a_clear_error() -> None:
    with pytest.raises(TypeError, match="not int"):
        MessageChain([1])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="send\\(\\) takes"):
        to_chain(3.5)


def test_to_chain_accepts_everything_send_accepts() -> None:
    result = MessageEventResult().message("a").at("5")
    assert to_chain("x") == MessageChain(["x"])
    assert to_chain(At("1")) == MessageChain([At("1")])
    assert to_chain([Plain("a"), "b"]).plain_text == "ab"
    assert to_chain(result) == MessageChain([Plain("a"), At("5")])


def test_message_event_astrbot_names() -> None:
    group = make()
    assert group.unified_msg_origin == "qq:GroupMessage:g1"
    assert group.get_group_id() == "g1" and not group.is_private
    assert group.target == Target("qq", "10", "g1", None)
    private = make(group=None)
    assert private.unified_msg_origin == "qq:FriendMessage:42"
    assert private.get_group_id() == "" and private.is_private
    assert private.target == Target("qq", "10", None, "42")
    assert group.get_sender_id() == "42" and group.message_str == "hi"
    assert group.get_messages() == [Plain("hi")]
    assert group.plain_result("x").chain == [Plain("x")]
    assert group.image_result("a.png").chain == [Image("a.png")]


def test_stop_event() -> None:
    event = make()
    assert not event.is_stopped()
    event.stop_event()
    assert event.is_stopped()


def test_platform_fields_stay_reachable() -> None:
    notice = NoticeEvent(platform="qq", self_id="1", type="group_recall", raw={"operator_id": "7"})
    assert notice.operator_id == "7"
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = notice.nothing


async def test_send_without_app_or_adapter_says_why() -> None:
    with pytest.raises(RuntimeError, match="no adapter"):
        await make().send("x")


def test_target_needs_a_destination() -> None:
    with pytest.raises(ValueError, match="group_id or a user_id"):
        Target("qq", "1")
