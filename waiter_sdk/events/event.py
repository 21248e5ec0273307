"""Events: what a platform tells the bot, independent of the wire format.

Usage (adapters build them; plugins read them)::

    event = MessageEvent(platform="sandbox", self_id="bot", message=MessageChain(["hi"]),
                         message_id="1", sender_id="alice", group_id="g1")
    event.unified_msg_origin == "sandbox:GroupMessage:g1"

Plain slotted classes rather than pydantic models: an adapter builds thousands a second and each
must cost microseconds. Validation happens once, at the wire edge, in the adapter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

from .chain import MessageChain, to_chain
from .components import Component, Image
from .result import MessageEventResult

if TYPE_CHECKING:
    from ..config import Settings
    from ..session.registry import SessionRegistry
    from ..storage.fields import Fields
    from ..storage.store import Storage

    F = TypeVar("F", bound=Fields)

__all__ = [
    "Event",
    "EventContext",
    "MessageEvent",
    "MessageSink",
    "MetaEvent",
    "NoticeEvent",
    "RequestEvent",
    "Target",
    "context_of",
    "handler_view",
]


@dataclass(frozen=True, slots=True)
class Target:
    """Where a message goes: a group, or a private chat with one user, of one bot account."""

    platform: str
    self_id: str
    group_id: str | None = None
    user_id: str | None = None

    def __post_init__(self) -> None:
        if self.group_id is None and self.user_id is None:
            raise ValueError("a target needs a group_id or a user_id")


class MessageSink(Protocol):
    """What an adapter offers to send with; ``send`` returns the platform's message id."""

    platform: str

    async def send(
        self, target: Target, chain: MessageChain, *, reply_to: str | None = None
    ) -> str: ...


class EventContext(Protocol):
    """What dispatch attaches to an event: the app. Every call from an event, a session or a
    front up to the app goes through this, and nothing else of the app is reached from below.
    """

    @property
    def settings(self) -> Settings: ...

    @property
    def session_registry(self) -> SessionRegistry: ...

    @property
    def storage(self) -> Storage: ...

    async def send(self, target: Target, message: object) -> str: ...

    async def send_for(self, event: MessageEvent, chain: MessageChain) -> str: ...

    async def prompt_for(self, event: MessageEvent, timeout: float | None) -> str | None: ...

    async def execute_for(self, event: MessageEvent, text: str) -> list[str]: ...

    async def suggest_for(
        self,
        event: MessageEvent,
        expect: Sequence[str],
        actual: str,
        *,
        prefix: str,
        suffix: str,
        timeout: float | None,
        min_similarity: float,
    ) -> str | None: ...

    async def send_queued_for(
        self, event: MessageEvent, chain: MessageChain, delay: float | None
    ) -> str | None: ...

    def cancel_queued_for(self, event: MessageEvent) -> int: ...


def context_of(event: Event) -> EventContext:
    """The app that dispatched ``event``; ``RuntimeError`` for an event no app dispatched."""
    context = event._context
    if context is None:
        raise RuntimeError(
            "this event was not dispatched through an App (or the Simulator); "
            "sessions, prompts and queues need one"
        )
    return context


# What the handler running in this context matched: (event, args, match). A context variable,
# not fields of the event, because one event's handlers may run at once in different tasks
# (a handler that opened a session goes on while the ones after it run), and each must keep
# seeing its own command's arguments.
handler_view: ContextVar[tuple[MessageEvent, list[str], re.Match[str] | None] | None] = ContextVar(
    "waiter_sdk_handler_view", default=None
)


class Event:
    """Base of every event: which platform and bot account it came from, and when."""

    __slots__ = ("_context", "_stopped", "adapter", "platform", "raw", "self_id", "timestamp")
    kind: str = "event"

    def __init__(
        self,
        *,
        platform: str,
        self_id: str,
        timestamp: float = 0.0,
        raw: Mapping[str, Any] | None = None,
        adapter: MessageSink | None = None,
    ) -> None:
        self.platform = platform
        self.self_id = self_id
        self.timestamp = timestamp
        self.raw = raw
        self.adapter = adapter
        self._context: EventContext | None = None
        self._stopped = False

    def stop_event(self) -> None:
        """Stop propagation: handlers after the current one do not see this event."""
        self._stopped = True

    def is_stopped(self) -> bool:
        return self._stopped

    def __getattr__(self, name: str) -> Any:
        # Fields a platform sent that have no attribute of their own stay reachable by name.
        raw = object.__getattribute__(self, "raw")
        if raw is not None and not name.startswith("_") and name in raw:
            return raw[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")


class _TypedEvent(Event):
    __slots__ = ("group_id", "sub_type", "type", "user_id")

    def __init__(
        self,
        *,
        platform: str,
        self_id: str,
        type: str,
        sub_type: str = "",
        user_id: str | None = None,
        group_id: str | None = None,
        timestamp: float = 0.0,
        raw: Mapping[str, Any] | None = None,
        adapter: MessageSink | None = None,
    ) -> None:
        super().__init__(
            platform=platform, self_id=self_id, timestamp=timestamp, raw=raw, adapter=adapter
        )
        self.type = type
        self.sub_type = sub_type
        self.user_id = user_id
        self.group_id = group_id

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(type={self.type!r}, sub_type={self.sub_type!r}, "
            f"user_id={self.user_id!r}, group_id={self.group_id!r})"
        )


class NoticeEvent(_TypedEvent):
    """Something happened: a member joined, a message was recalled, a poke. Other fields: ``raw``."""

    __slots__ = ()
    kind = "notice"


class RequestEvent(_TypedEvent):
    """Someone asks: a friend request, a group join request or invitation."""

    __slots__ = ("comment", "flag")
    kind = "request"

    def __init__(self, *, comment: str = "", flag: str = "", **fields: Any) -> None:
        super().__init__(**fields)
        self.comment = comment
        self.flag = flag


class MetaEvent(_TypedEvent):
    """About the connection itself: lifecycle, heartbeat."""

    __slots__ = ()
    kind = "meta"


class MessageEvent(Event):
    """A message in a group or a private chat. Names follow AstrBot's so plugins port easily."""

    __slots__ = (
        "_args",
        "_match",
        "group_id",
        "message",
        "message_id",
        "message_str",
        "reply_to",
        "sender_id",
        "sender_name",
        "sender_role",
        "to_me",
    )
    kind = "message"

    def __init__(
        self,
        *,
        platform: str,
        self_id: str,
        message: MessageChain,
        message_id: str,
        sender_id: str,
        sender_name: str = "",
        sender_role: str | None = None,
        group_id: str | None = None,
        reply_to: str | None = None,
        to_me: bool = False,
        timestamp: float = 0.0,
        raw: Mapping[str, Any] | None = None,
        adapter: MessageSink | None = None,
        message_str: str | None = None,
    ) -> None:
        self.platform = platform
        self.self_id = self_id
        self.timestamp = timestamp
        self.raw = raw
        self.adapter = adapter
        self._context = None
        self._stopped = False
        self.message = message
        self.message_str = message.plain_text if message_str is None else message_str
        self.message_id = message_id
        self.sender_id = sender_id
        self.sender_name = sender_name
        self.sender_role = sender_role
        self.group_id = group_id
        self.reply_to = reply_to
        self.to_me = to_me
        self._args: list[str] = []
        self._match: re.Match[str] | None = None

    # --- what the running handler matched -------------------------------------------------

    @property
    def args(self) -> list[str]:
        """The words after the command, for the command handler running now (else ``[]``)."""
        view = handler_view.get()
        return view[1] if view is not None and view[0] is self else self._args

    @args.setter
    def args(self, value: list[str]) -> None:
        self._args = value

    @property
    def match(self) -> re.Match[str] | None:
        """The regex match, for the ``regex`` handler running now (else ``None``)."""
        view = handler_view.get()
        return view[2] if view is not None and view[0] is self else self._match

    @match.setter
    def match(self, value: re.Match[str] | None) -> None:
        self._match = value

    # --- AstrBot-compatible accessors -------------------------------------------------------

    def get_messages(self) -> list[Component]:
        return list(self.message)

    def get_sender_id(self) -> str:
        return self.sender_id

    def get_sender_name(self) -> str:
        return self.sender_name

    def get_group_id(self) -> str:
        return self.group_id or ""

    def get_message_str(self) -> str:
        return self.message_str

    @property
    def is_private(self) -> bool:
        return self.group_id is None

    @property
    def unified_msg_origin(self) -> str:
        if self.group_id is None:
            return f"{self.platform}:FriendMessage:{self.sender_id}"
        return f"{self.platform}:GroupMessage:{self.group_id}"

    @property
    def target(self) -> Target:
        """Where a reply to this message goes."""
        if self.group_id is None:
            return Target(self.platform, self.self_id, None, self.sender_id)
        return Target(self.platform, self.self_id, self.group_id, None)

    # --- results ----------------------------------------------------------------------------

    def plain_result(self, text: str) -> MessageEventResult:
        return MessageEventResult().message(text)

    def make_result(self) -> MessageEventResult:
        return MessageEventResult()

    def image_result(self, url_or_path: str) -> MessageEventResult:
        return MessageEventResult([Image(url_or_path)])

    def chain_result(self, chain: Iterable[Component]) -> MessageEventResult:
        return MessageEventResult(list(chain))

    # --- actions ----------------------------------------------------------------------------

    async def send(
        self, message: str | Component | Sequence[Component | str] | MessageEventResult
    ) -> str:
        """Send to this message's conversation; returns the sent message's id."""
        chain = to_chain(message)
        if self._context is not None:
            return await self._context.send_for(self, chain)
        if self.adapter is None:
            raise RuntimeError("this event has no adapter to send with; dispatch it through an App")
        return await self.adapter.send(self.target, chain)

    async def prompt(self, timeout: float | None = None) -> str | None:
        """Koishi style: the next text from this sender in this conversation, ``None`` on timeout."""
        return await context_of(self).prompt_for(self, timeout)

    async def execute(self, text: str) -> list[str]:
        """Run ``text`` as a command as if this sender typed it; returns the texts it sent."""
        return await context_of(self).execute_for(self, text)

    async def send_queued(
        self,
        message: str | Component | Sequence[Component | str] | MessageEventResult,
        delay: float | None = None,
    ) -> None:
        """Koishi style: send through this conversation's outbound queue, at least ``delay`` apart."""
        await context_of(self).send_queued_for(self, to_chain(message), delay)

    async def cancel_queued(self) -> int:
        """Drop what this conversation's outbound queue has not sent yet; returns how many."""
        return context_of(self).cancel_queued_for(self)

    @overload
    async def observe_user(self) -> Fields: ...
    @overload
    async def observe_user(self, model: type[F]) -> F: ...

    async def observe_user(self, model: type[Fields] | None = None) -> Fields:
        """Koishi's ``observeUser``: the sender's stored fields of ``model`` (by default, the
        running plugin's ``user_fields``), loaded now; what the handler or waiter call changes
        is written back when it returns. See docs/storage.md."""
        return await context_of(self).storage.observe(self, "user", model)

    @overload
    async def observe_channel(self) -> Fields: ...
    @overload
    async def observe_channel(self, model: type[F]) -> F: ...

    async def observe_channel(self, model: type[Fields] | None = None) -> Fields:
        """Koishi's ``observeChannel``: this conversation's stored fields (a group, or the
        private chat with the sender), written back like ``observe_user``."""
        return await context_of(self).storage.observe(self, "channel", model)

    async def suggest(
        self,
        expect: Sequence[str],
        actual: str,
        *,
        prefix: str = "",
        suffix: str = "",
        timeout: float | None = None,
        min_similarity: float = 0.4,
    ) -> str | None:
        """Did-you-mean: offer the closest of ``expect``; the sender confirms with "." or "。"."""
        return await context_of(self).suggest_for(
            self,
            expect,
            actual,
            prefix=prefix,
            suffix=suffix,
            timeout=timeout,
            min_similarity=min_similarity,
        )

    def __repr__(self) -> str:
        where = f"group={self.group_id!r}" if self.group_id is not None else "private"
        return (
            f"MessageEvent({self.platform}:{self.self_id} {where} sender={self.sender_id!r} "
            f"id={self.message_id!r} text={self.message_str!r})"
        )
