"""``session_waiter``: turn a coroutine into a multi-turn conversation.

Usage, inside a handler::

    @session_waiter(timeout=60)
    async def ask_name(controller: SessionController, event: MessageEvent) -> None:
        await event.send(f"Hello, {event.message_str}!")
        controller.stop()

    try:
        await ask_name(event)          # returns when the session ends
    except TimeoutError:
        await event.send("You took too long.")
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any, Generic, Protocol, Self, TypeVar, cast, overload

from ..events import MessageEvent, context_of
from ._context import current_scope
from .controller import BusyPolicy, SessionController, WaiterCall
from .filters import SenderSessionFilter, SessionFilter
from .registry import ConflictPolicy, SessionRegistry

__all__ = [
    "SessionWaiter",
    "SessionWaiterMethod",
    "WaiterDecorator",
    "open_session",
    "registry_of",
    "session_waiter",
]

_DEFAULT_FILTER = SenderSessionFilter()


def registry_of(event: MessageEvent) -> SessionRegistry:
    """The session registry of the app that dispatched ``event``."""
    return context_of(event).session_registry


def open_session(
    event: MessageEvent,
    call: WaiterCall,
    *,
    timeout: float,
    session_filter: SessionFilter | None = None,
    record_history: bool = False,
    conflict: ConflictPolicy = "busy",
    busy: BusyPolicy = "queue",
    max_queue: int | None = None,
) -> SessionController:
    """Open a session and return its controller; the caller awaits ``controller.wait()``.

    Synchronous: opening touches only the registry, so an opener pays no coroutine for it.
    """
    registry = registry_of(event)
    flt = session_filter if session_filter is not None else _DEFAULT_FILTER
    key = flt.open_key(event)
    scope = current_scope.get()
    session = SessionController(
        registry,
        key=key,
        session_filter=flt,
        event=event,
        call=call,
        timeout=timeout,
        record_history=record_history,
        busy=busy,
        max_queue=registry.default_max_queue if max_queue is None else max_queue,
        plugin=scope.plugin if scope is not None else "",
    )
    registry.open(session, conflict)
    # A reply session also answers to what its handler sent before opening it, unless the
    # caller named the messages it answers to.
    seeds = list(getattr(flt, "message_ids", ()))
    if scope is not None and not seeds:
        seeds.extend(scope.sent)
    for message_id in seeds:
        extra = flt.key_for_sent(event, message_id)
        if extra:
            registry.add_key(session, extra)
    return session


_E = TypeVar("_E", bound=MessageEvent)
_S = TypeVar("_S")
# What a waiter is, as a type checker sees it: ``async def waiter(controller, event)``, whose
# return value is ignored. A method takes the instance first.
WaiterFunc = Callable[[SessionController, _E], Coroutine[Any, Any, object]]
WaiterMethod = Callable[[_S, SessionController, _E], Coroutine[Any, Any, object]]


def _shape(func: Callable[..., Any]) -> bool:
    """Check that ``func`` can be called as a waiter; True when it is a method (takes self).

    Checked when decorating, so that ``async def w(event)`` fails at import with its name,
    not at the first reply with "takes 1 positional argument but 2 were given".
    """
    name = getattr(func, "__qualname__", repr(func))
    if not inspect.iscoroutinefunction(func):
        raise TypeError(f"session_waiter decorates an 'async def' function; {name!r} is not one")
    signature = inspect.signature(func)
    if _accepts(signature, 2):
        return False
    params = list(signature.parameters)
    if params and params[0] in ("self", "cls") and _accepts(signature, 3):
        return True
    shown = ", ".join(params)
    raise TypeError(
        f"session_waiter: {name}({shown}) must take (controller, event), like "
        f"'async def {getattr(func, '__name__', 'waiter')}(controller: SessionController, "
        "event: MessageEvent)' (a method: (self, controller, event))"
    )


def _accepts(signature: inspect.Signature, count: int) -> bool:
    try:
        signature.bind(*([None] * count))
    except TypeError:
        return False
    return True


class SessionWaiter(Generic[_E]):
    """The callable that ``session_waiter`` makes; ``await waiter(event)`` runs one session."""

    def __init__(
        self,
        func: Callable[..., Coroutine[Any, Any, object]],
        *,
        timeout: float,
        record_history_chains: bool,
        conflict: ConflictPolicy,
        busy: BusyPolicy,
        max_queue: int | None,
        bound: object = None,
    ) -> None:
        if conflict not in ("busy", "replace"):
            raise ValueError(f"conflict must be 'busy' or 'replace', not {conflict!r}")
        if busy not in ("queue", "drop"):
            raise ValueError(f"busy must be 'queue' or 'drop', not {busy!r}")
        self.func = func
        self.timeout = timeout
        self.record_history_chains = record_history_chains
        self.conflict: ConflictPolicy = conflict
        self.busy: BusyPolicy = busy
        self.max_queue = max_queue
        self._bound = bound
        self.__wrapped__ = func
        self.__name__ = getattr(func, "__name__", "waiter")
        self.__qualname__ = getattr(func, "__qualname__", self.__name__)
        self.__doc__ = func.__doc__

    async def open(
        self, event: MessageEvent, session_filter: SessionFilter | None = None
    ) -> SessionController:
        """Open the session now and return its controller; ``await controller.wait()`` later.

        For "listen before you ask": open, then send the question, then wait, so that an answer
        faster than the question's delivery still reaches the session::

            controller = await ask.open(event, GroupSessionFilter())
            await event.send("First to answer wins: 2 + 2?")
            await controller.wait()
        """
        return self._open(event, session_filter)

    def _open(self, event: MessageEvent, session_filter: SessionFilter | None) -> SessionController:
        return open_session(
            event,
            self._waiter_call(),
            timeout=self.timeout,
            session_filter=session_filter,
            record_history=self.record_history_chains,
            conflict=self.conflict,
            busy=self.busy,
            max_queue=self.max_queue,
        )

    def _waiter_call(self) -> WaiterCall:
        if self._bound is None:
            return self.func
        bound, func = self._bound, self.func

        async def call(controller: SessionController, ev: MessageEvent) -> None:
            await func(bound, controller, ev)

        return call

    def __call__(
        self, event: MessageEvent, session_filter: SessionFilter | None = None
    ) -> Coroutine[Any, Any, None]:
        """Open a session from ``event``; awaiting the result waits until it ends.

        Returns ``None`` when the waiter stops it (or ``keep`` leaves no time); raises
        ``SessionTimeoutError`` at the deadline, the waiter's own exception if it raised,
        ``SessionBusyError`` if the key is held, ``SessionClosedError`` if it was replaced or the
        app stopped.
        """
        # Not a coroutine itself: the session opens here and the caller awaits the session's
        # own wait(), one coroutine frame per idle opener (and per wake-up) instead of two.
        return self._open(event, session_filter).wait()


class SessionWaiterMethod(Generic[_S, _E]):
    """``session_waiter`` on a method: reading it from an instance gives a ``SessionWaiter``."""

    def __init__(self, waiter: SessionWaiter[_E]) -> None:
        self._waiter = waiter
        self.__wrapped__ = waiter.func
        self.__name__ = waiter.__name__
        self.__qualname__ = waiter.__qualname__
        self.__doc__ = waiter.__doc__

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> Self: ...
    @overload
    def __get__(self, obj: _S, objtype: type | None = None) -> SessionWaiter[_E]: ...
    def __get__(self, obj: _S | None, objtype: type | None = None) -> Self | SessionWaiter[_E]:
        if obj is None:
            return self
        w = self._waiter
        return SessionWaiter(
            w.func,
            timeout=w.timeout,
            record_history_chains=w.record_history_chains,
            conflict=w.conflict,
            busy=w.busy,
            max_queue=w.max_queue,
            bound=obj,
        )


class WaiterDecorator(Protocol):
    """What ``session_waiter(...)`` returns: it turns a waiter into a ``SessionWaiter``."""

    @overload
    def __call__(self, func: WaiterFunc[_E], /) -> SessionWaiter[_E]: ...
    @overload
    def __call__(self, func: WaiterMethod[_S, _E], /) -> SessionWaiterMethod[_S, _E]: ...


def session_waiter(
    timeout: float = 30,
    record_history_chains: bool = False,
    *,
    conflict: ConflictPolicy = "busy",
    busy: BusyPolicy = "queue",
    max_queue: int | None = None,
) -> WaiterDecorator:
    """Decorate ``async def waiter(controller, event)`` to make a session waiter.

    ``timeout`` is seconds from opening to the deadline. ``conflict="replace"`` ends a session
    that holds the same key instead of raising ``SessionBusyError``. ``busy`` says what happens
    to messages that arrive while a waiter call runs: ``"queue"`` (up to ``max_queue``, default
    from settings) or ``"drop"``. A function that does not take ``(controller, event)`` (or
    ``(self, controller, event)`` for a method) is a ``TypeError`` here, naming it.
    """

    def decorate(func: Callable[..., Coroutine[Any, Any, object]]) -> Any:
        is_method = _shape(func)
        waiter: SessionWaiter[Any] = SessionWaiter(
            func,
            timeout=timeout,
            record_history_chains=record_history_chains,
            conflict=conflict,
            busy=busy,
            max_queue=max_queue,
        )
        return SessionWaiterMethod(waiter) if is_method else waiter

    return cast(WaiterDecorator, decorate)
