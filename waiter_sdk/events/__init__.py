"""Events and message components, independent of any platform's wire format."""

from .chain import MessageChain, to_chain
from .components import At, AtAll, Component, Face, Image, Plain, Reply, Segment
from .event import (
    Event,
    EventContext,
    MessageEvent,
    MessageSink,
    MetaEvent,
    NoticeEvent,
    RequestEvent,
    Target,
    context_of,
)
from .result import MessageEventResult

__all__ = [
    "At",
    "AtAll",
    "Component",
    "Event",
    "EventContext",
    "Face",
    "Image",
    "MessageChain",
    "MessageEvent",
    "MessageEventResult",
    "MessageSink",
    "MetaEvent",
    "NoticeEvent",
    "Plain",
    "Reply",
    "RequestEvent",
    "Segment",
    "Target",
    "context_of",
    "to_chain",
]
