"""The bytes that cross Redis between the ingress and the workers: events, sends and replies.

Usage::

    payload = encode_event(event, ledger_key="onebot11|10001|42", tries=["w2"])
    envelope = decode(payload)              # {"t": "event", ...}
    event = event_of(envelope)              # a MessageEvent again, with no adapter or context

Every payload is one orjson object with a ``"t"`` (its type):

- ``event``: an event for a worker: ``ev`` (the event's fields), ``key`` (its ledger key: who
  handled this platform message), ``try`` (workers to hand it to next if no session of this
  one takes it), ``hops`` (how many workers it has been through);
- ``replaced``: another worker took session ``key`` over with ``conflict="replace"``;
- ``send``: a worker asks the ingress to send ``chain`` to ``target`` and answer ``rid``;
- ``result``: the ingress's answer: ``message_id``, or ``error`` and ``error_type``.

Components are written as ``[type, fields]`` pairs; a type this build does not know comes back
as a ``Segment`` holding its fields, so a newer ingress never makes an older worker fail.
Decoding checks every field's type: a payload that does not fit raises ``ValueError`` naming
what is wrong, never a half-built event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from ..events import (
    At,
    AtAll,
    Component,
    Event,
    Face,
    Image,
    MessageChain,
    MessageEvent,
    MetaEvent,
    NoticeEvent,
    Plain,
    Reply,
    RequestEvent,
    Segment,
    Target,
)

__all__ = [
    "chain_of",
    "decode",
    "encode",
    "encode_chain",
    "encode_event",
    "encode_replaced",
    "encode_result",
    "encode_send",
    "encode_target",
    "event_of",
    "ledger_key",
    "result_of",
    "send_of",
    "target_of",
]

_TYPED: dict[str, type[NoticeEvent | RequestEvent | MetaEvent]] = {
    "notice": NoticeEvent,
    "request": RequestEvent,
    "meta": MetaEvent,
}


def encode(envelope: Mapping[str, Any]) -> bytes:
    return orjson.dumps(envelope)


def decode(payload: bytes) -> dict[str, Any]:
    """The envelope in ``payload``; ``ValueError`` for bytes that are not one."""
    try:
        envelope = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not a cluster payload (invalid JSON: {exc})") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("t"), str):
        raise ValueError("not a cluster payload (no 't' naming its type)")
    return envelope


def ledger_key(event: Event) -> str | None:
    """Who handled this platform message: ``platform|bot|message id`` (None: not a message)."""
    if isinstance(event, MessageEvent) and event.message_id:
        return f"{event.platform}|{event.self_id}|{event.message_id}"
    return None


# --- components and chains ------------------------------------------------------------------


def _component(component: Component) -> list[Any]:
    if isinstance(component, Plain):
        return ["text", {"content": component.content}]
    if isinstance(component, At):
        return ["at", {"user_id": component.user_id, "name": component.name}]
    if isinstance(component, AtAll):
        return ["at_all", {}]
    if isinstance(component, Image):
        return ["image", {"file": component.file, "url": component.url}]
    if isinstance(component, Reply):
        return ["reply", {"message_id": component.message_id}]
    if isinstance(component, Face):
        return ["face", {"id": component.id}]
    if isinstance(component, Segment):
        return ["segment", {"kind": component.kind, "data": dict(component.data)}]
    raise TypeError(f"cannot send a {type(component).__name__} across the cluster")


def encode_chain(chain: Sequence[Component]) -> list[list[Any]]:
    return [_component(c) for c in chain]


def _str(fields: Mapping[str, Any], name: str, optional: bool = False) -> Any:
    value = fields.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"field {name!r} must be a string, not {type(value).__name__}")
    return value


def _decode_component(item: Any) -> Component:
    if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
        raise ValueError(f"a component is [type, fields], not {item!r:.80}")
    kind, fields = item
    if not isinstance(fields, dict):
        raise ValueError(f"component {kind!r} has fields {fields!r:.80}, not an object")
    if kind == "text":
        return Plain(_str(fields, "content"))
    if kind == "at":
        return At(_str(fields, "user_id"), _str(fields, "name", optional=True))
    if kind == "at_all":
        return AtAll()
    if kind == "image":
        return Image(_str(fields, "file"), _str(fields, "url", optional=True))
    if kind == "reply":
        return Reply(_str(fields, "message_id"))
    if kind == "face":
        return Face(_str(fields, "id"))
    if kind == "segment":
        data = fields.get("data")
        if not isinstance(data, dict):
            raise ValueError("a segment's data must be an object")
        return Segment(_str(fields, "kind"), data)
    return Segment(kind, fields)  # from a newer build: kept, not refused


def chain_of(items: Any) -> MessageChain:
    if not isinstance(items, list):
        raise ValueError("a message chain must be a list of components")
    return MessageChain([_decode_component(item) for item in items])


def encode_target(target: Target) -> dict[str, Any]:
    return {
        "platform": target.platform,
        "self_id": target.self_id,
        "group_id": target.group_id,
        "user_id": target.user_id,
    }


def target_of(fields: Any) -> Target:
    if not isinstance(fields, dict):
        raise ValueError("a target must be an object")
    return Target(
        _str(fields, "platform"),
        _str(fields, "self_id"),
        _str(fields, "group_id", optional=True),
        _str(fields, "user_id", optional=True),
    )


# --- events -----------------------------------------------------------------------------------


def _event_fields(event: Event) -> dict[str, Any]:
    raw = dict(event.raw) if event.raw is not None else None
    base = {
        "platform": event.platform,
        "self_id": event.self_id,
        "timestamp": event.timestamp,
        "raw": raw,
    }
    if isinstance(event, MessageEvent):
        base.update(
            kind="message",
            message=encode_chain(event.message),
            message_str=event.message_str,
            message_id=event.message_id,
            sender_id=event.sender_id,
            sender_name=event.sender_name,
            sender_role=event.sender_role,
            group_id=event.group_id,
            reply_to=event.reply_to,
            to_me=event.to_me,
        )
        return base
    if isinstance(event, NoticeEvent | RequestEvent | MetaEvent):
        base.update(
            kind=event.kind,
            type=event.type,
            sub_type=event.sub_type,
            user_id=event.user_id,
            group_id=event.group_id,
        )
        if isinstance(event, RequestEvent):
            base.update(comment=event.comment, flag=event.flag)
        return base
    raise TypeError(f"cannot send a {type(event).__name__} across the cluster")


def encode_event(
    event: Event, *, ledger_key: str | None, tries: Sequence[str] = (), hops: int = 0
) -> bytes:
    """The ``event`` envelope for a worker's stream."""
    return orjson.dumps(
        {
            "t": "event",
            "ev": _event_fields(event),
            "key": ledger_key,
            "try": list(tries),
            "hops": hops,
        }
    )


def event_of(envelope: Mapping[str, Any]) -> Event:
    """The event an ``event`` envelope carries (no adapter, no app context yet)."""
    fields = envelope.get("ev")
    if not isinstance(fields, dict):
        raise ValueError("an event envelope needs 'ev', an object")
    timestamp = fields.get("timestamp", 0.0)
    if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
        raise ValueError("field 'timestamp' must be a number")
    raw = fields.get("raw")
    if raw is not None and not isinstance(raw, dict):
        raise ValueError("field 'raw' must be an object or null")
    kind = fields.get("kind")
    common: dict[str, Any] = {
        "platform": _str(fields, "platform"),
        "self_id": _str(fields, "self_id"),
        "timestamp": float(timestamp),
        "raw": raw,
    }
    if kind == "message":
        return MessageEvent(
            message=chain_of(fields.get("message")),
            message_str=_str(fields, "message_str"),
            message_id=_str(fields, "message_id"),
            sender_id=_str(fields, "sender_id"),
            sender_name=_str(fields, "sender_name"),
            sender_role=_str(fields, "sender_role", optional=True),
            group_id=_str(fields, "group_id", optional=True),
            reply_to=_str(fields, "reply_to", optional=True),
            to_me=bool(fields.get("to_me", False)),
            **common,
        )
    klass = _TYPED.get(kind) if isinstance(kind, str) else None
    if klass is None:
        raise ValueError(f"unknown event kind {kind!r}")
    extra: dict[str, Any] = {}
    if klass is RequestEvent:
        extra = {"comment": _str(fields, "comment"), "flag": _str(fields, "flag")}
    return klass(
        type=_str(fields, "type"),
        sub_type=_str(fields, "sub_type"),
        user_id=_str(fields, "user_id", optional=True),
        group_id=_str(fields, "group_id", optional=True),
        **common,
        **extra,
    )


# --- sends, their results, and replaced sessions ----------------------------------------------


def encode_send(
    rid: str, worker: str, target: Target, chain: Sequence[Component], reply_to: str | None
) -> bytes:
    """The ``send`` envelope a worker appends to ``waiter:out``; the ingress answers ``rid``."""
    return orjson.dumps(
        {
            "t": "send",
            "rid": rid,
            "worker": worker,
            "target": encode_target(target),
            "chain": encode_chain(chain),
            "reply_to": reply_to,
        }
    )


def send_of(envelope: Mapping[str, Any]) -> tuple[str, str, Target, MessageChain, str | None]:
    """``(rid, worker, target, chain, reply_to)`` of a ``send`` envelope (the ingress)."""
    return (
        _str(envelope, "rid"),
        _str(envelope, "worker"),
        target_of(envelope.get("target")),
        chain_of(envelope.get("chain")),
        _str(envelope, "reply_to", optional=True),
    )


def encode_result(
    rid: str,
    message_id: str | None = None,
    *,
    error: str | None = None,
    error_type: str | None = None,
) -> bytes:
    """The ``result`` envelope of send ``rid``: its message id, or the error it raised."""
    if error is not None:
        return orjson.dumps(
            {"t": "result", "rid": rid, "error": error, "error_type": error_type or "AdapterError"}
        )
    return orjson.dumps({"t": "result", "rid": rid, "message_id": message_id or ""})


def result_of(envelope: Mapping[str, Any]) -> tuple[str, str | None, str | None, str | None]:
    """``(rid, message_id, error, error_type)`` of a ``result`` envelope; ``message_id`` is
    None exactly when ``error`` is set."""
    rid = _str(envelope, "rid")
    error = _str(envelope, "error", optional=True)
    if error is not None:
        return rid, None, error, _str(envelope, "error_type", optional=True)
    return rid, _str(envelope, "message_id"), None, None


def encode_replaced(key: str) -> bytes:
    """The ``replaced`` envelope: session ``key`` of the receiving worker was taken over."""
    return orjson.dumps({"t": "replaced", "key": key})
