"""The fake implementation's "QQ": accounts, messages, actions and event payloads.

Written from the OneBot v11 spec (and the quirks of real implementations noted in the
research file), independently of the adapter: ids are JSON numbers in events, ``message`` is a
segment array or a CQ string as configured, actions answer the spec envelope and echo any JSON
value back verbatim.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from . import cq

INT32 = 2**31


@dataclass
class Call:
    """One action the fake received, as it arrived."""

    action: str
    params: dict[str, Any]
    echo: Any
    transport: str


@dataclass
class Sent:
    """One message the application sent through the fake."""

    action: str
    message_type: str  # "private" or "group"
    target: int  # user_id or group_id
    segments: list[dict[str, Any]]
    message_id: int
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "".join(s["data"].get("text", "") for s in self.segments if s["type"] == "text")

    @property
    def types(self) -> list[str]:
        return [s["type"] for s in self.segments]


class ParamError(Exception):
    """A parameter is missing or has a type the spec does not allow (retcode 100)."""


def _int(params: dict[str, Any], name: str, default: Any = ...) -> int:
    if name not in params:
        if default is ...:
            raise ParamError(f"missing parameter {name}")
        return default
    value = params[name]
    # The spec asks implementations to coerce "123" to 123; a bool or a float is still wrong.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ParamError(f"{name} must be an integer, got {type(value).__name__}")
    try:
        return int(value)
    except ValueError:
        raise ParamError(f"{name} must be an integer, got {value!r}") from None


class FakeState:
    """What the fake knows and does, whatever transport carries it."""

    def __init__(
        self,
        self_id: int,
        *,
        nickname: str = "fake-bot",
        message_format: str = "array",
        message_id_start: int = -3,
    ) -> None:
        self.self_id = self_id
        self.nickname = nickname
        self.message_format = message_format
        self._ids = itertools.count(message_id_start)
        self.calls: list[Call] = []
        self.sent: list[Sent] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.failures: dict[str, tuple[str, int, str]] = {}
        self.held: set[str] = set()
        self.held_calls: list[Call] = []
        self.requests_answered: list[tuple[str, dict[str, Any]]] = []
        self._sent_queue: asyncio.Queue[Sent] = asyncio.Queue()
        self._call_event = asyncio.Event()

    # --- ids and events ------------------------------------------------------------------------

    def next_message_id(self) -> int:
        # int32, wrapping like NapCat's short ids; the default start makes the first ones negative.
        return (next(self._ids) + INT32) % (2 * INT32) - INT32

    def base(self, post_type: str) -> dict[str, Any]:
        return {"time": int(time.time()), "self_id": self.self_id, "post_type": post_type}

    def encode(self, segments: list[dict[str, Any]]) -> Any:
        return cq.render(segments) if self.message_format == "string" else segments

    def message_event(
        self,
        user_id: int,
        message: str | list[dict[str, Any]],
        *,
        group_id: int | None = None,
        nickname: str = "",
        card: str = "",
        role: str = "member",
        at_self: bool = False,
        reply_to: int | None = None,
        post_type: str = "message",
    ) -> dict[str, Any]:
        segments = (
            [{"type": "text", "data": {"text": message}}] if isinstance(message, str) else message
        )
        if at_self:
            segments = [
                {"type": "at", "data": {"qq": str(self.self_id)}},
                {"type": "text", "data": {"text": " "}},
                *segments,
            ]
        if reply_to is not None:
            segments = [{"type": "reply", "data": {"id": str(reply_to)}}, *segments]
        message_id = self.next_message_id()
        payload = self.base(post_type)
        sender: dict[str, Any] = {
            "user_id": user_id,
            "nickname": nickname or f"user{user_id}",
            "sex": "unknown",
            "age": 0,
        }
        if group_id is None:
            payload.update(message_type="private", sub_type="friend")
        else:
            payload.update(
                message_type="group", sub_type="normal", group_id=group_id, anonymous=None
            )
            sender.update(card=card, role=role, title="", level="1", area="")
        payload.update(
            message_id=message_id,
            user_id=user_id,
            message=self.encode(segments),
            raw_message=cq.render(segments),
            font=0,
            sender=sender,
        )
        self.messages[message_id] = payload
        return payload

    def heartbeat(self, interval_ms: int) -> dict[str, Any]:
        payload = self.base("meta_event")
        payload.update(
            meta_event_type="heartbeat", status={"online": True, "good": True}, interval=interval_ms
        )
        return payload

    def lifecycle(self, sub_type: str = "connect") -> dict[str, Any]:
        payload = self.base("meta_event")
        payload.update(meta_event_type="lifecycle", sub_type=sub_type)
        return payload

    # --- waiting (tests await these instead of sleeping) ---------------------------------------

    async def next_sent(self, within: float = 3.0) -> Sent:
        async with asyncio.timeout(within):
            return await self._sent_queue.get()

    async def expect_silence(self) -> None:
        """Nothing queued: everything sent so far was taken by next_sent()."""
        assert self._sent_queue.empty(), [s.text for s in self.sent]

    async def wait_call(self, action: str, within: float = 3.0) -> Call:
        async with asyncio.timeout(within):
            while True:
                for call in self.calls:
                    if call.action == action:
                        return call
                self._call_event.clear()
                await self._call_event.wait()

    # --- actions -------------------------------------------------------------------------------

    def record(self, action: str, params: dict[str, Any], echo: Any, transport: str) -> Call:
        call = Call(action, params, echo, transport)
        self.calls.append(call)
        self._call_event.set()
        return call

    def answer(self, action: str, params: Any) -> dict[str, Any]:
        """The response envelope for one action (without echo)."""
        if not isinstance(params, dict):
            return _failed(1400, "params must be an object")
        name, is_async = action, False
        if name.endswith("_async"):
            name, is_async = name[: -len("_async")], True
        if name in self.failures:
            status, retcode, message = self.failures[name]
            return {
                "status": status,
                "retcode": retcode,
                "data": None,
                "message": message,
                "wording": message,
            }
        handler = getattr(self, "_do_" + name.lstrip(".").replace(".", "_"), None)
        if handler is None:
            return _failed(1404, f"不支持的Api {action}")
        try:
            data = handler(params)
        except ParamError as exc:
            return _failed(100, str(exc))
        if is_async:
            return {"status": "async", "retcode": 1, "data": None}
        return {"status": "ok", "retcode": 0, "data": data, "message": "", "wording": ""}

    def _segments(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if "message" not in params:
            raise ParamError("missing parameter message")
        message = params["message"]
        if isinstance(message, str):
            if params.get("auto_escape") in (True, "true", 1, "1"):
                return [{"type": "text", "data": {"text": message}}]
            return cq.parse(message)
        if isinstance(message, dict):
            message = [message]
        if not isinstance(message, list) or not message:
            raise ParamError("message must be a non-empty string or segment array")
        for seg in message:
            if not isinstance(seg, dict) or not isinstance(seg.get("type"), str):
                raise ParamError("every segment needs a string type")
            data = seg.get("data", {})
            if not isinstance(data, dict):
                raise ParamError("segment data must be an object")
            if any(value is None for value in data.values()):
                raise ParamError(f"null value in {seg['type']} segment data")
        return message

    def _store_sent(
        self, action: str, message_type: str, target: int, params: dict[str, Any]
    ) -> dict[str, Any]:
        segments = self._segments(params)
        message_id = self.next_message_id()
        sent = Sent(action, message_type, target, segments, message_id, dict(params))
        self.sent.append(sent)
        self._sent_queue.put_nowait(sent)
        payload = self.base("message")
        payload.update(
            message_type=message_type, message_id=message_id, user_id=self.self_id, message=segments
        )
        if message_type == "group":
            payload["group_id"] = target
        self.messages[message_id] = payload
        return {"message_id": message_id}

    def _do_send_private_msg(self, params: dict[str, Any]) -> Any:
        return self._store_sent("send_private_msg", "private", _int(params, "user_id"), params)

    def _do_send_group_msg(self, params: dict[str, Any]) -> Any:
        return self._store_sent("send_group_msg", "group", _int(params, "group_id"), params)

    def _do_send_msg(self, params: dict[str, Any]) -> Any:
        kind = params.get("message_type") or ("group" if "group_id" in params else "private")
        if kind == "group":
            return self._store_sent("send_msg", "group", _int(params, "group_id"), params)
        return self._store_sent("send_msg", "private", _int(params, "user_id"), params)

    def _do_delete_msg(self, params: dict[str, Any]) -> Any:
        message_id = _int(params, "message_id")
        if self.messages.pop(message_id, None) is None:
            raise ParamError(f"no message {message_id}")
        return None

    def _do_get_msg(self, params: dict[str, Any]) -> Any:
        message_id = _int(params, "message_id")
        if message_id not in self.messages:
            raise ParamError(f"no message {message_id}")
        stored = self.messages[message_id]
        return {
            "time": stored["time"],
            "message_type": stored["message_type"],
            "message_id": message_id,
            "real_id": message_id,
            "sender": stored.get("sender", {"user_id": stored["user_id"]}),
            "message": stored["message"],
        }

    def _do_get_login_info(self, params: dict[str, Any]) -> Any:
        return {"user_id": self.self_id, "nickname": self.nickname}

    def _do_get_stranger_info(self, params: dict[str, Any]) -> Any:
        user_id = _int(params, "user_id")
        return {"user_id": user_id, "nickname": f"user{user_id}", "sex": "unknown", "age": 0}

    def _do_get_group_info(self, params: dict[str, Any]) -> Any:
        group_id = _int(params, "group_id")
        return {
            "group_id": group_id,
            "group_name": f"group{group_id}",
            "member_count": 3,
            "max_member_count": 200,
        }

    def _do_get_group_member_info(self, params: dict[str, Any]) -> Any:
        group_id, user_id = _int(params, "group_id"), _int(params, "user_id")
        return {
            "group_id": group_id,
            "user_id": user_id,
            "nickname": f"user{user_id}",
            "card": "",
            "sex": "unknown",
            "age": 0,
            "area": "",
            "join_time": 0,
            "last_sent_time": 0,
            "level": "1",
            "role": "member",
            "unfriendly": False,
            "title": "",
            "title_expire_time": 0,
            "card_changeable": True,
        }

    def _do_set_friend_add_request(self, params: dict[str, Any]) -> Any:
        if not isinstance(params.get("flag"), str):
            raise ParamError("flag must be the string from the request event")
        self.requests_answered.append(("friend", params))
        return None

    def _do_set_group_add_request(self, params: dict[str, Any]) -> Any:
        if not isinstance(params.get("flag"), str):
            raise ParamError("flag must be the string from the request event")
        if (params.get("sub_type") or params.get("type")) not in ("add", "invite"):
            raise ParamError("sub_type must be add or invite")
        self.requests_answered.append(("group", params))
        return None

    def _do_set_group_ban(self, params: dict[str, Any]) -> Any:
        _int(params, "group_id"), _int(params, "user_id")
        if not isinstance(params.get("duration", 1800), int):
            raise ParamError("duration must be an integer")  # Lagrange rejects "600"
        return None

    def _do_set_group_kick(self, params: dict[str, Any]) -> Any:
        _int(params, "group_id"), _int(params, "user_id")
        return None

    def _do_get_status(self, params: dict[str, Any]) -> Any:
        return {"online": True, "good": True}

    def _do_get_version_info(self, params: dict[str, Any]) -> Any:
        return {"app_name": "fake-onebot", "app_version": "0.0.0", "protocol_version": "v11"}

    def _do_handle_quick_operation(self, params: dict[str, Any]) -> Any:
        # Hidden API (spec api/hidden.md): act on a reply in the operation for the context event.
        context, operation = params.get("context") or {}, params.get("operation") or {}
        reply = operation.get("reply")
        if reply is not None:
            kind = context.get("message_type", "private")
            target = context.get("group_id") if kind == "group" else context.get("user_id")
            self._store_sent(
                ".handle_quick_operation",
                kind,
                int(target),
                {"message": reply, "auto_escape": operation.get("auto_escape", False)},
            )
        return None


def _failed(retcode: int, message: str) -> dict[str, Any]:
    return {
        "status": "failed",
        "retcode": retcode,
        "data": None,
        "message": message,
        "wording": message,
    }
