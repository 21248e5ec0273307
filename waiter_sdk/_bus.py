"""The event bus: which handlers see an event, in which order, and running them safely.

``publish(event)`` picks the matching handlers synchronously (so routing keeps arrival order
and a message nobody handles costs no task), then runs them in one tracked task, highest
priority first. A handler that raises is logged with its plugin and name and the chain goes on;
``event.stop_event()`` ends the chain. Every task is tracked and cancelled by ``aclose``.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from ._tasks import TaskSet
from .events import Event, MessageEvent
from .events.event import handler_view
from .exceptions import HandlerFinished, PluginError, SessionClosedError, SessionTimeoutError
from .plugins.base import HandlerInfo, HandlerKind
from .session._context import HandlerScope, current_scope

__all__ = ["EventBus", "Handler", "Place", "TaskSet"]


@dataclass(eq=False, slots=True)
class Handler:
    """One registered handler: a bound plugin method and what it declared."""

    plugin: str
    name: str
    info: HandlerInfo
    func: Callable[[Event], Any]
    order: int = 0
    is_gen: bool = field(init=False)

    def __post_init__(self) -> None:
        self.is_gen = inspect.isasyncgenfunction(self.func)

    @property
    def label(self) -> str:
        return f"{self.plugin}.{self.name}"


class Place:
    """A message's place in arrival order, kept while its handlers cannot run yet.

    Kept for a message held at its sender's gate (``EventBus.reserve``) and for the rest of a
    chain that a handler handed off (``EventBus.hand_off``) until its task starts. A chain of a
    later message waits before each handler in ``handlers``, and only those: every handler
    sees messages in arrival order, and no handler waits for a message it would not see.
    """

    __slots__ = ("handlers", "seq")

    def __init__(self, seq: int, handlers: frozenset[Handler]) -> None:
        self.seq = seq
        self.handlers = handlers


class _Chain:
    """The handlers selected for one event, run in order (possibly over two or more tasks)."""

    __slots__ = ("event", "inline", "on_finish", "selected", "seq")

    def __init__(
        self,
        event: Event,
        selected: list[_Selected],
        on_finish: Callable[[], None] | None,
        seq: int,
        *,
        inline: bool = False,
    ) -> None:
        self.event = event
        self.selected = selected
        self.on_finish = on_finish
        self.seq = seq  # publication order; 0 for a chain run inline (execute)
        self.inline = inline


@dataclass(slots=True)
class _Selected:
    handler: Handler
    args: list[str] | None = None
    match: Any = None


_QUOTING = frozenset("\"'\\")
_SHLEX_SPACE = " \t\r\n"  # shlex's whitespace: a full-width space stays inside a word
_WHITESPACE = re.compile("[ \t\r\n]+")
_DOUBLE_QUOTED_ESCAPES = frozenset('\\"')  # what a backslash escapes inside "..." (shlex)


def _plain_words(rest: str) -> list[str]:
    # What the old fallback gave for unbalanced quotes: any whitespace separates.
    return rest.split()


def _split_args(rest: str) -> list[str]:
    """Words of a command's arguments, as ``shlex.split`` (POSIX) would give them.

    Our own, in one pass: ``shlex`` grows each word by string concatenation on an attribute,
    which is quadratic in the word's length (a 2 MB word from a chat took minutes).
    Unbalanced quotes or a trailing backslash: users type those, so their words are kept as
    plain whitespace-separated words instead.
    """
    if _QUOTING.isdisjoint(rest):
        return _WHITESPACE.split(rest.strip(_SHLEX_SPACE)) if rest.strip(_SHLEX_SPACE) else []
    words: list[str] = []
    word: list[str] = []
    started = False  # a word is open (it may be empty: '' is a word)
    quote = ""  # the open quote character, if any
    chars = iter(rest)
    for char in chars:
        if quote == "'":
            if char == "'":
                quote = ""
            else:
                word.append(char)
        elif quote == '"':
            if char == '"':
                quote = ""
            elif char == "\\":
                following = next(chars, None)
                if following is None:
                    return _plain_words(rest)
                if following not in _DOUBLE_QUOTED_ESCAPES:
                    word.append(char)
                word.append(following)
            else:
                word.append(char)
        elif char in _SHLEX_SPACE:
            if started:
                words.append("".join(word))
                word.clear()
                started = False
        else:
            started = True
            if char in "'\"":
                quote = char
            elif char == "\\":
                following = next(chars, None)
                if following is None:
                    return _plain_words(rest)
                word.append(following)
            else:
                word.append(char)
    if quote:
        return _plain_words(rest)
    if started:
        words.append("".join(word))
    return words


class EventBus:
    """Handlers of every plugin, selected per event and run in priority order."""

    def __init__(self, prefixes: list[str] | None = None) -> None:
        self.prefixes: list[str] = list(prefixes) if prefixes is not None else ["/"]
        self._handlers: dict[HandlerKind, list[Handler]] = {
            "message": [],
            "notice": [],
            "request": [],
            "meta": [],
        }
        self._commands: dict[tuple[str, str], Handler] = {}  # (prefix, lowercased name)
        self._plain: list[Handler] = []  # message handlers that are not commands
        self._order = 0
        self._known_prefixes: tuple[str, ...] = ()
        self.tasks = TaskSet()
        self.on_error: Callable[[BaseException], None] | None = None
        self._published = 0
        # Places in arrival order that later chains wait for: chains handed off by a handler
        # that opened a session, not started yet (hand_off), and messages held at a gate
        # (reserve).
        self._pending: list[Place] = []
        self._moved: asyncio.Future[None] | None = None
        # Set when the app stops: a chain still waiting for an earlier place ends there, so
        # no handler starts during the stop only because the places it waited for were dropped.
        self._closing = False

    # --- registration ------------------------------------------------------------------

    def command_owner(self, name: str, prefix: str | None) -> Handler | None:
        for p in self._prefixes_for(prefix):
            found = self._commands.get((p, name.lower()))
            if found is not None:
                return found
        return None

    def _prefixes_for(self, prefix: str | None) -> list[str]:
        return self.prefixes if prefix is None else [prefix]

    def add(self, handler: Handler) -> None:
        """Register ``handler``; a command name or alias already taken is a ``PluginError``."""
        info = handler.info
        if info.command is not None:
            for word in (info.command, *info.aliases):
                owner = self.command_owner(word, info.prefix)
                if owner is not None:
                    raise PluginError(
                        f"command {word!r} of plugin {handler.plugin!r} is already registered "
                        f"by plugin {owner.plugin!r}"
                    )
        self._order += 1
        handler.order = self._order
        if info.command is not None:
            for word in (info.command, *info.aliases):
                for p in self._prefixes_for(info.prefix):
                    self._commands[(p, word.lower())] = handler
            self._index_prefixes()
        bucket = self._handlers[info.kind]
        bucket.append(handler)
        bucket.sort(key=lambda h: (-h.info.priority, h.order))

    def remove_plugin(self, plugin: str) -> None:
        for kind, bucket in self._handlers.items():
            self._handlers[kind] = [h for h in bucket if h.plugin != plugin]
        self._commands = {k: h for k, h in self._commands.items() if h.plugin != plugin}
        self._index_prefixes()

    def _index_prefixes(self) -> None:
        # Longest first so that "//x" prefers a "//" prefix over "/"; built once per change,
        # not per message.
        self._known_prefixes = tuple(sorted({p for p, _ in self._commands}, key=len, reverse=True))

    def handlers(self, kind: HandlerKind | None = None) -> list[Handler]:
        if kind is not None:
            return list(self._handlers[kind])
        return [h for bucket in self._handlers.values() for h in bucket]

    # --- selection ---------------------------------------------------------------------

    def match_command(self, text: str) -> tuple[Handler, list[str]] | None:
        """The command handler that ``text`` invokes, and its arguments."""
        text = text.strip()
        for prefix in self._prefix_candidates(text):
            body = text[len(prefix) :]
            head, _, rest = body.partition(" ")
            if not head:
                continue
            found = self._commands.get((prefix, head.lower()))
            if found is None and "\n" in head:
                head, _, more = head.partition("\n")
                rest = more + " " + rest
                found = self._commands.get((prefix, head.lower()))
            if found is not None:
                return found, _split_args(rest.strip())
        return None

    def _prefix_candidates(self, text: str) -> list[str]:
        # Ordinary chat starts with no prefix at all: one startswith on a tuple rejects it.
        known = self._known_prefixes
        if not text.startswith(known):
            return []
        return [p for p in known if text.startswith(p)]

    def select(self, event: Event) -> list[_Selected]:
        kind: HandlerKind = event.kind  # type: ignore[assignment]
        bucket = self._handlers.get(kind)
        if not bucket:
            return []
        if not isinstance(event, MessageEvent):
            etype = getattr(event, "type", "")
            return [_Selected(h) for h in bucket if not h.info.types or etype in h.info.types]
        selected: list[_Selected] = []
        invoked = self.match_command(event.message_str) if self._commands else None
        for handler in bucket:
            info = handler.info
            if info.command is not None:
                if invoked is not None and invoked[0] is handler:
                    selected.append(_Selected(handler, invoked[1]))
            elif info.pattern is not None:
                m = info.pattern.search(event.message_str)
                if m is not None:
                    selected.append(_Selected(handler, None, m))
            else:
                selected.append(_Selected(handler))
        return selected

    # --- running -----------------------------------------------------------------------

    def publish(
        self, event: Event, context: contextvars.Context | None = None
    ) -> asyncio.Task[None] | None:
        """Run the handlers that match ``event`` in a tracked task; ``None`` if none match.

        The task runs in a fresh context (or ``context``): it must not inherit the session or
        handler scope of whatever code happened to publish it.
        """
        selected = self.select(event)
        if not selected:
            return None
        return self.spawn(event, selected, context)

    def spawn(
        self,
        event: Event,
        selected: list[_Selected],
        context: contextvars.Context | None = None,
        on_finish: Callable[[], None] | None = None,
        place: Place | None = None,
    ) -> asyncio.Task[None]:
        """Run ``selected`` in a task; ``on_finish()`` when they are done, however they end.

        ``on_finish`` runs at the end of the task itself, not as a done callback: no loop
        callback per handled message, and it happens before the opener's task is even done.
        ``place``: the message's place in arrival order, reserved while it was held.
        """
        if place is None:
            self._published += 1
            seq = self._published
        else:
            seq = place.seq  # held at a gate: it keeps the place it arrived in
        chain = _Chain(event, selected, on_finish, seq)
        return self.tasks.spawn(
            self._run(chain, 0, place),
            context=context if context is not None else contextvars.Context(),
        )

    def reserve(self, event: Event) -> Place:
        """Keep ``event``'s place in arrival order while it waits at its sender's gate.

        Until it is published (``spawn(place=...)``) or goes elsewhere (``release``), chains of
        later messages wait before the handlers it would reach. The wait is bounded by the
        gate's window.
        """
        self._published += 1
        handlers = frozenset(item.handler for item in self.select(event))
        place = Place(self._published, handlers)
        if handlers:
            self._pending.append(place)
        return place

    def release(self, place: Place) -> None:
        """``place`` needs no keeping: its message went to a session, or to no handler."""
        self._started(place)

    def release_all(self) -> None:
        """Drop every place kept (the app stops): chains waiting for one end without running.

        Chains already inside a handler go on (the stop's grace time is theirs); a chain that
        had not reached its next handler yet does not start it, whatever it was waiting for.
        """
        self._closing = True
        for item in list(self._pending):
            self._started(item)

    async def run_now(self, event: Event) -> None:
        """Run the matching handlers in the current task (used by ``event.execute``).

        The chain stays in this task even when a handler opens a session: the caller waits
        for all of it.
        """
        selected = self.select(event)
        if selected:
            await self._run(_Chain(event, selected, None, 0, inline=True), 0)

    def hand_off(self, scope: HandlerScope) -> None:
        """The handler of ``scope`` opened a session: the rest of its chain goes on now.

        Called synchronously while the handler opens it. The handlers after it run in a new
        task (the handler keeps its own, so ``asyncio.timeout`` and the like it entered stay
        bound to it), which later messages' chains let go first, so every handler still sees
        messages in arrival order.
        """
        chain = scope.chain
        if chain is None or chain.inline or scope.handed_off:
            return
        rest = scope.index + 1
        if rest >= len(chain.selected) or chain.event._stopped:
            return  # nothing to hand on; on_finish runs when this handler returns
        scope.handed_off = True
        place = Place(chain.seq, frozenset(item.handler for item in chain.selected[rest:]))
        self._pending.append(place)
        self.tasks.spawn(self._run(chain, rest, place), context=contextvars.copy_context())

    def _started(self, place: Place) -> None:
        # A kept place is taken (its chain is running, or will never run): those behind go on.
        if place in self._pending:
            self._pending.remove(place)
            moved = self._moved
            if moved is not None:
                self._moved = None
                if not moved.done():
                    moved.set_result(None)

    def _blocked(self, seq: int, handler: Handler) -> bool:
        return any(p.seq < seq and handler in p.handlers for p in self._pending)

    async def _wait_for_earlier(self, chain: _Chain, index: int) -> None:
        # Wait until no earlier message still has a place kept before this handler.
        handler = chain.selected[index].handler
        if not self._blocked(chain.seq, handler):
            return
        # While it waits, this chain keeps a place of its own before the handlers it has left:
        # every waiter wakes when any place is given up, and without it a later chain that
        # happens to run first would pass this one.
        place = Place(chain.seq, frozenset(item.handler for item in chain.selected[index:]))
        self._pending.append(place)
        try:
            while self._blocked(chain.seq, handler) and not self._closing:
                moved = self._moved
                if moved is None:
                    moved = self._moved = asyncio.get_running_loop().create_future()
                await moved
        finally:
            self._started(place)

    async def _run(self, chain: _Chain, start: int, place: Place | None = None) -> None:
        # One coroutine for the whole chain (no helper frame): every resume of a waiting
        # handler and every exception climbs each frame between the task and the handler.
        event, selected = chain.event, chain.selected
        finished = True
        try:
            if place is not None:  # a hand-off, or a message held at a gate: running now
                self._started(place)
            for index in range(start, len(selected)):
                if event._stopped:
                    break
                item = selected[index]
                handler = item.handler
                if self._pending and chain.seq:
                    await self._wait_for_earlier(chain, index)
                    if event._stopped or self._closing:
                        break
                if isinstance(event, MessageEvent):
                    args = item.args if item.args is not None else []
                    # Set on the event too (the last handler's, for code after the bus), and
                    # in this task's context, where each handler keeps its own.
                    event._args, event._match = args, item.match
                    handler_view.set((event, args, item.match))
                scope = HandlerScope(handler.plugin, handler.name, event, chain, index)
                token = current_scope.set(scope)
                try:
                    if handler.is_gen:
                        await self._run_generator(handler, event)
                    else:
                        await handler.func(event)
                except asyncio.CancelledError:
                    raise
                except HandlerFinished as finished_early:
                    logger.debug("{}: {}", handler.label, finished_early)
                    if finished_early.farewell is not None:
                        await self._farewell(handler, finished_early.farewell)
                except SessionTimeoutError as exc:
                    logger.warning(
                        "{}: a session timed out and the handler did not catch it ({})",
                        handler.label,
                        exc,
                    )
                except SessionClosedError as exc:
                    logger.debug("{}: {}", handler.label, exc or type(exc).__name__)
                except Exception as exc:
                    self.report(exc, handler)
                finally:
                    scope.ended = True
                    for cleanup in scope.cleanups:
                        try:
                            cleanup()
                        except Exception as exc:
                            self.report(exc, handler, "cleanup after")
                    if scope.write_back is not None:
                        # What it observed is written back however it ended, cancelled too.
                        try:
                            await scope.write_back.flush()
                        except Exception as exc:
                            self.report(exc, handler, "writing back the stored fields of")
                    current_scope.reset(token)
                if scope.handed_off:
                    # This handler opened a session: the rest of the chain runs in a task of
                    # its own, which also runs on_finish.
                    finished = False
                    return
        finally:
            if place is not None:
                self._started(place)  # cancelled before it ran: nothing may wait for it
            if finished and chain.on_finish is not None:
                try:
                    chain.on_finish()
                except Exception as exc:
                    logger.exception("after the handlers of {!r}", event)
                    if self.on_error is not None:
                        self.on_error(exc)

    async def _farewell(self, handler: Handler, farewell: Callable[[], Awaitable[object]]) -> None:
        # finish() raised to unwind its handler; what it had to say is sent from here.
        try:
            await farewell()
        except SessionClosedError as exc:
            logger.debug("{}: {}", handler.label, exc)
        except Exception as exc:
            self.report(exc, handler, "the finish message of")

    def report(self, exc: BaseException, handler: Handler | None, doing: str = "") -> None:
        """Log a handler's failure with its plugin and name, and tell ``on_error``."""
        if handler is not None:
            if doing:
                logger.opt(exception=exc).error("{} {} raised", doing, handler.label)
            else:
                logger.opt(exception=exc).error(
                    "handler {} of plugin {} raised", handler.name, handler.plugin
                )
        if self.on_error is not None:
            self.on_error(exc)

    async def _run_generator(self, handler: Handler, event: Event) -> None:
        agen: AsyncIterator[Any] = handler.func(event)
        try:
            async for result in agen:
                if result is None:
                    continue
                if not isinstance(event, MessageEvent):
                    raise TypeError(f"{handler.label} yielded a result for a {event.kind} event")
                await event.send(result)
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None:
                await aclose()
