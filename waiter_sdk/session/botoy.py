"""botoy-style sessions: ``start_session`` inside a handler, then ``await ss.text()`` in a loop.

Usage, inside a plugin handler::

    ss = start_session(event)                  # or start_session() in a handler: the current event
    name, reply = await ss.must_text("What is your name?")
    await reply.send(f"Hello, {name}!")

The scope (which later messages the session takes) follows botoy's ``start_session`` docs:

=================================  ================================================================
arguments                          the session takes
=================================  ================================================================
started from a private message     that user's private messages (every argument is ignored)
group message, default             the sender's messages in that group and their private ones
group message, ``group=True``      the same
``group=True, multi_user=True``    every message of that group (no private message)
group message, ``friend=True``     the sender's private messages only; replies go privately
``group=<id>``                     every message of group ``id``; ``friend``, ``multi_user`` ignored
``friend=<id>``                    user ``id``'s private messages; ``group``, ``multi_user`` ignored
``group=<id>, friend=<id>``        that user in that group plus their private messages
the same and ``multi_user=True``   every message of group ``id``
=================================  ================================================================

Precedence is ``group > multi_user > friend``: ``multi_user`` only matters with a group, and
``friend`` only when no group applies. An id is an ``int`` or a ``str`` (never a ``bool``); when any
id is given the boolean arguments are ignored, so ``group=True, friend=42`` is user 42's private
chat, as in botoy. The bot's own messages never open nor reach a session.

Where this differs from botoy, on purpose:

* ``skip_responder=False`` really queues messages sent while no ``text()`` call waits; the next
  ``text()`` returns the oldest one at once (botoy drops them silently). With ``True`` (the
  default) such a message is not an answer, and it is not swallowed either: it goes on to the
  plugin handlers as if no session had taken it (botoy drops it).
* The session ends when ``finish()`` is called or when the handler that opened it returns or
  raises, synchronously, so the very next message is handled normally (botoy loses it).
* Sessions are keyed per plugin and namespaced by platform, bot, kind and ids, so a group and a user
  with the same number never collide; a second session of the same scope in the same plugin raises
  ``SessionBusyError``. Sessions of different plugins on one scope coexist; the newest takes the
  messages (API rule 11), except that a member's own session is looked up before a group-wide one
  of the same plugin, as botoy does.
* A member session also takes its user's private messages, so a private session for that user
  in the same plugin is refused while it is open (botoy would open one that never gets a message).
* ``ss.finish(...)`` is called without ``await`` as in botoy (``await ss.finish()`` works too):
  it raises ``HandlerFinished``, a ``BaseException`` that ``except Exception`` does not stop, and
  the SDK sends the finish info once the handler has unwound. Messages still queued are handed
  to the plugins instead of vanishing.
* Ended from outside (an exit word, ``app.sessions.close``, the app stopping), a waiting or later
  ``text()`` raises ``SessionClosedError``, which ends the handler quietly.

There is no idle deadline: a botoy session lives as long as its handler. While a getter waits,
its timeout (``set_default_timeout``, 30 s) is the session's deadline; between two questions the
session has none (``app.sessions`` shows ``None``). Each move of it is a ``"session_changed"``
for ``App.listen``. A ``must_*`` getter that times out ends the session with reason
``"timeout"`` (``finish()`` ends it as ``"stopped"``).
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, TypeVar, overload

from loguru import logger

from ..events import Component, Image, MessageEvent, MessageEventResult, Target, context_of
from ..exceptions import HandlerFinished, SessionBusyError, SessionClosedError
from ._context import current_scope
from .controller import EndReason, SessionController
from .filters import SessionFilter
from .keys import encode_key, key_field
from .registry import SessionRegistry
from .waiter import registry_of

__all__ = ["BotoyScope", "BotoySession", "BotoySessionFilter", "start_session"]

ScopeKind = Literal["group", "member", "private"]
Want = Literal["any", "group", "private"]
T = TypeVar("T")
Sendable = str | Component | Sequence[Component | str] | MessageEventResult
FinishInfo = str | Callable[[], str]

DEFAULT_TIMEOUT = 30.0


def _key(plugin: str, platform: str, bot: str, chat: str, sender: str = "") -> str:
    # One plugin's botoy sessions are told apart from everyone else's by the topic.
    return encode_key("botoy", platform, bot, chat, sender, topic=plugin)


@dataclass(frozen=True, slots=True)
class BotoyScope:
    """Which messages a ``start_session`` session takes.

    Usage: ``ss.scope.kind == "member"`` and ``ss.scope.group_id == "g1"``.

    ``"group"``: every message of ``group_id``. ``"member"``: ``user_id``'s messages in
    ``group_id`` and their private messages. ``"private"``: ``user_id``'s private messages.
    """

    kind: ScopeKind
    group_id: str | None = None
    user_id: str | None = None

    def key(self, plugin: str, platform: str, bot: str) -> str:
        """The session key of this scope for ``plugin`` on that bot account."""
        if self.kind == "group":
            return _key(plugin, platform, bot, f"g{self.group_id}")
        if self.kind == "member":
            return _key(plugin, platform, bot, f"g{self.group_id}", self.user_id or "")
        return _key(plugin, platform, bot, f"p{self.user_id}", self.user_id or "")

    def describe(self) -> str:
        if self.kind == "group":
            return f"group {self.group_id} (every member)"
        if self.kind == "member":
            return f"user {self.user_id} in group {self.group_id} (and their private messages)"
        return f"the private chat with user {self.user_id}"


class BotoySessionFilter(SessionFilter):
    """Routes messages to one plugin's ``start_session`` sessions, whatever their scope.

    Usage: made by ``start_session``; one distinct filter per plugin, so routing computes the
    keys of one filter per plugin that has botoy sessions open, however many are open.

    A private message from U has U's private key, held by U's private session or, as an extra
    key, by a member session of U. A group message has two keys, in botoy's order: the member's
    own session first, then the whole group's (``keys``); the first one held takes it.
    """

    def __init__(self, plugin: str, open_key: str = "") -> None:
        self.plugin = plugin
        self._open_key = open_key

    def _identity(self) -> tuple[Any, ...]:
        # The opening key belongs to one session; routing depends on the plugin only.
        return (BotoySessionFilter, (("plugin", self.plugin),))

    def keys(self, event: MessageEvent) -> tuple[str, ...]:
        sender = event.sender_id
        if sender == event.self_id:
            return ()  # the bot's own echo must never feed a session (a group parrot loops)
        platform, bot, group = event.platform, event.self_id, event.group_id
        if group is None:
            return (_key(self.plugin, platform, bot, f"p{sender}", sender),)
        chat = f"g{group}"
        return (
            _key(self.plugin, platform, bot, chat, sender),
            _key(self.plugin, platform, bot, chat),
        )

    def filter(self, event: MessageEvent) -> str | None:
        keys = self.keys(event)
        return keys[0] if keys else None

    def open_key(self, event: MessageEvent) -> str:
        return self._open_key

    def route_id(self, key: str) -> str | None:
        # A member's or a private session: the user's id; a whole group's: the group's.
        return key_field(key, "sender") or key_field(key, "chat")[1:] or None


def _is_id(value: object) -> bool:
    # bool is an int subclass: True means "this chat", never user 1.
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _resolve_scope(
    event: MessageEvent,
    group: bool | int | str | None,
    friend: bool | int | str | None,
    multi_user: bool | None,
) -> tuple[BotoyScope, Target]:
    """The scope ``start_session`` opens for ``event``, and where its messages go first."""
    platform, self_id = event.platform, event.self_id
    for name, value in (("group", group), ("friend", friend)):
        if isinstance(value, str) and not value:
            raise ValueError(f"start_session({name}='') names no chat; pass an id or True")
    if _is_id(group) or _is_id(friend):
        gid = str(group) if _is_id(group) else None
        uid = str(friend) if _is_id(friend) else None
        if gid is not None and (uid is None or multi_user):
            return BotoyScope("group", gid), Target(platform, self_id, group_id=gid)
        assert uid is not None
        private = Target(platform, self_id, user_id=uid)
        if gid is not None:
            return BotoyScope("member", gid, uid), private
        return BotoyScope("private", None, uid), private
    if event.sender_id == event.self_id:
        raise RuntimeError(
            "start_session() was called for a message the bot sent itself; "
            "check the sender before starting a session"
        )
    sender = event.sender_id
    if event.group_id is None:
        return BotoyScope("private", None, sender), event.target
    if group:
        if multi_user:
            return BotoyScope("group", event.group_id), event.target
        return BotoyScope("member", event.group_id, sender), event.target
    if friend:
        return BotoyScope("private", None, sender), Target(platform, self_id, user_id=sender)
    return BotoyScope("member", event.group_id, sender), event.target


def _wanted(event: MessageEvent, want: Want) -> bool:
    if want == "any":
        return True
    return (event.group_id is None) == (want == "private")


class _Inbox:
    """What a botoy session plugs into its core session (the ``Inbox`` seam of ``_seams.py``)."""

    __slots__ = ("front",)

    def __init__(self, front: BotoySession) -> None:
        self.front = front

    def put(self, event: MessageEvent) -> None:
        self.front._put(event)

    def expired(self) -> bool:
        return self.front._expired()

    def closed(self) -> None:
        self.front._closed()


class BotoySession:
    """One ``start_session`` conversation: read the next messages with ``text()``.

    Its core is a plain session with an inbox plugged in (``_Inbox``): the session hands every
    routed message to it, and its deadline is the deadline of the getter that waits (none
    between two questions, when the handler may take as long as it needs).

    Usage::

        ss = start_session(event, group=True, multi_user=True)
        ss.set_finish_info("Game over.")
        while True:
            answer, reply = await ss.must_text()      # 30 s, then "Game over." and the end
            if answer == "q":
                await ss.finish("Bye!")
            await reply.send(answer)
    """

    __slots__ = (
        "_controller",
        "_default_timeout",
        "_finish_info",
        "_last",
        "_origin",
        "_private_key",
        "_registry",
        "_reply_target",
        "_waiter",
        "_want",
        "scope",
        "skip_responder",
    )

    def __init__(
        self,
        registry: SessionRegistry,
        origin: MessageEvent,
        scope: BotoyScope,
        reply_target: Target,
        skip_responder: bool,
    ) -> None:
        self._registry = registry
        self._origin = origin
        self._reply_target = reply_target
        self._last: MessageEvent | None = None
        self._waiter: asyncio.Future[MessageEvent | None] | None = None
        self._want: Want = "any"
        self._default_timeout = DEFAULT_TIMEOUT
        self._finish_info: FinishInfo = ""
        self._private_key: str | None = None
        self.scope = scope
        self.skip_responder = skip_responder
        self._controller: SessionController  # set by start_session before anyone can use it

    # --- state ------------------------------------------------------------------------------

    @property
    def key(self) -> str:
        """The registry key of this session (as listed by ``app.sessions``)."""
        return self._controller.key

    @property
    def closed(self) -> bool:
        """True once the session has ended, whatever the reason."""
        return self._controller.reason is not None

    @property
    def queued(self) -> int:
        """Messages waiting for the next ``text()`` (only with ``skip_responder=False``)."""
        return self._controller.queued

    def set_default_timeout(self, seconds: float) -> None:
        """Seconds that ``text()`` and ``must_text()`` wait when given no timeout (default 30)."""
        self._default_timeout = self._check_timeout(seconds)

    def set_finish_info(self, info: FinishInfo) -> None:
        """Text sent by ``finish()`` without ``info`` and by ``must_text`` on timeout.

        A callable is called at that moment. The default is empty: nothing is sent.
        """
        if not (isinstance(info, str) or callable(info)):
            raise TypeError(f"set_finish_info() takes a str or a callable, not {info!r}")
        self._finish_info = info

    # --- reading ----------------------------------------------------------------------------

    async def text(
        self,
        timeout: float | None = None,
        *,
        prompt: Sendable | None = None,
    ) -> tuple[str | None, MessageEvent | None]:
        """The next message of the scope as ``(text, event)``; ``(None, None)`` on timeout.

        Usage: ``answer, reply = await ss.text(60, prompt="Your move?")``.

        ``prompt`` is sent first (the session already listens, so a fast answer is not missed).
        Raises ``SessionClosedError`` if the session ended meanwhile (an exit word, the app
        stopping), which ends the handler quietly.
        """
        event = await self._next(timeout, prompt)
        if event is None:
            return None, None
        return event.message_str, event

    async def must_text(
        self,
        prompt: Sendable | None = None,
        timeout: float | None = None,
    ) -> tuple[str, MessageEvent]:
        """Like ``text()``, but a timeout finishes the session (finish info sent) and the handler.

        Usage: ``name, reply = await ss.must_text("What is your name?")``.
        """
        event = await self._next(timeout, prompt)
        if event is None:
            self._finish(None, "timeout")
        return event.message_str, event

    async def image(
        self, prompt: Sendable | None = None, timeout: float | None = None
    ) -> tuple[list[Image] | None, MessageEvent | None]:
        """The images of the next message as ``(images, event)``, never an empty list.

        Usage: ``images, reply = await ss.image("Send me a picture")``. ``images`` is ``None``
        when the next message holds no image (it is taken all the same, as in botoy) or on
        timeout (then ``event`` is ``None`` too).
        """
        event = await self._next(timeout, prompt)
        if event is None:
            return None, None
        images = [c for c in event.message if isinstance(c, Image)]
        return (images or None), event

    async def must_image(
        self, prompt: Sendable | None = None, timeout: float | None = None
    ) -> tuple[list[Image], MessageEvent]:
        """Like ``image()``, but no image (or a timeout) finishes the session and the handler."""
        images, event = await self.image(prompt, timeout)
        if event is None:
            self._finish(None, "timeout")
        if images is None:
            self.finish()
        return images, event

    async def g(
        self, prompt: Sendable | None = None, timeout: float | None = None
    ) -> tuple[MessageEvent | None, MessageEvent | None]:
        """The next *group* message of the scope as ``(message, event)`` (the same event twice,
        botoy's shape); ``(None, None)`` on timeout.

        Usage: ``msg, reply = await ss.g()``. A private message arriving meanwhile is not the
        answer: it goes on as any message the session is not waiting for (see
        ``skip_responder``). Raises ``RuntimeError`` for a private scope, which has no group.
        """
        if self.scope.kind == "private":
            raise RuntimeError(
                f"session {self.key} listens to {self.scope.describe()}: it gets no group message"
            )
        event = await self._next(timeout, prompt, "group")
        return event, event

    async def must_g(
        self, prompt: Sendable | None = None, timeout: float | None = None
    ) -> tuple[MessageEvent, MessageEvent]:
        """Like ``g()``, but a timeout finishes the session and the handler."""
        event, _ = await self.g(prompt, timeout)
        if event is None:
            self._finish(None, "timeout")
        return event, event

    async def f(
        self, prompt: Sendable | None = None, timeout: float | None = None
    ) -> tuple[MessageEvent | None, MessageEvent | None]:
        """The next *private* message of the scope as ``(message, event)``; ``(None, None)`` on
        timeout.

        Usage: ``msg, reply = await ss.f("Tell me in private")``. Raises ``RuntimeError`` for
        a whole-group scope (``multi_user=True``), which takes no private message.
        """
        if self.scope.kind == "group":
            raise RuntimeError(
                f"session {self.key} listens to {self.scope.describe()}: it gets no private message"
            )
        event = await self._next(timeout, prompt, "private")
        return event, event

    async def must_f(
        self, prompt: Sendable | None = None, timeout: float | None = None
    ) -> tuple[MessageEvent, MessageEvent]:
        """Like ``f()``, but a timeout finishes the session and the handler."""
        event, _ = await self.f(prompt, timeout)
        if event is None:
            self._finish(None, "timeout")
        return event, event

    async def ctx(
        self, prompt: Sendable | None = None, timeout: float | None = None
    ) -> tuple[MessageEvent | None, MessageEvent | None]:
        """The next message of the scope, group or private, as ``(message, event)``."""
        event = await self._next(timeout, prompt)
        return event, event

    async def must_ctx(
        self, prompt: Sendable | None = None, timeout: float | None = None
    ) -> tuple[MessageEvent, MessageEvent]:
        """Like ``ctx()``, but a timeout finishes the session and the handler."""
        event = await self._next(timeout, prompt)
        if event is None:
            self._finish(None, "timeout")
        return event, event

    async def confirm(
        self,
        text: str,
        default: bool = False,
        timeout: float | None = None,
        show_default: bool = True,
    ) -> bool:
        """Ask a yes/no question until the answer is y or n; ``default`` on timeout.

        Usage: ``if await ss.confirm("Delete everything?"): ...``. ``y``/``yes`` and
        ``n``/``no`` count, in any case; anything else asks again (each ask has the full
        ``timeout``, default ``set_default_timeout``).
        """
        seconds = self._default_timeout if timeout is None else self._check_timeout(timeout)
        choices = "[Y/n]" if default else "[y/N]"
        hint = f"{choices} {seconds:g} s to answer"
        if show_default:
            hint += f", then {'yes' if default else 'no'}"
        question = f"{text}\n\n{hint}"
        answer, _ = await self.text(seconds, prompt=question)
        while True:
            if answer is None:
                return default
            word = answer.strip().lower()
            if word in ("y", "yes"):
                return True
            if word in ("n", "no"):
                return False
            answer, _ = await self.text(seconds, prompt=f"Please answer y or n.\n\n{question}")

    async def select(
        self,
        candidates: Sequence[T],
        prompt: str = "",
        retry_times: int = 1,
        key: Callable[[T], object] | None = None,
        always_prompt: bool = True,
        timeout: float | None = None,
    ) -> tuple[T, int] | None:
        """Ask for one of ``candidates`` by its number; ``(choice, index)`` or ``None``.

        Usage: ``picked = await ss.select(["tea", "coffee"], "Drink?")``. The list is shown
        numbered from 1 (labels from ``key``, default ``str``); ``index`` counts from 0.
        ``retry_times`` is how many answers are accepted in all (botoy's meaning): after that
        many wrong numbers, or on a timeout, ``None``. ``always_prompt`` shows the list again
        with each retry.
        """
        if not candidates:
            raise ValueError("select() needs at least one candidate")
        if retry_times < 1:
            raise ValueError(f"retry_times must be 1 or more, not {retry_times!r}")
        seconds = self._default_timeout if timeout is None else self._check_timeout(timeout)
        label = key or str
        menu = "\n".join(f"{n}. {label(item)}" for n, item in enumerate(candidates, 1))
        head = f"{prompt}\n" if prompt else ""
        ask = f"{head}Send the number of your choice ({seconds:g} s):\n{menu}"
        answer, _ = await self.text(seconds, prompt=ask)
        for attempt in range(retry_times):
            if answer is None:
                return None
            number = answer.strip()
            if number.isdecimal() and 1 <= int(number) <= len(candidates):
                index = int(number) - 1
                return candidates[index], index
            left = retry_times - attempt - 1
            if left:
                again = f"{head}No choice numbered {number!r}; {left} more tries."
                if always_prompt:
                    again += f"\n{menu}"
                answer, _ = await self.text(seconds, prompt=again)
        await self.send(f"{head}No choice numbered {answer!r}; nothing was selected.")
        return None

    async def _next(
        self,
        timeout: float | None,
        prompt: Sendable | None,
        want: Want = "any",
    ) -> MessageEvent | None:
        controller = self._controller
        self._check_open()
        if self._waiter is not None:
            raise RuntimeError(
                f"session {controller.key} is already waiting in text(); "
                "one reader at a time per session"
            )
        seconds = self._default_timeout if timeout is None else self._check_timeout(timeout)
        self._claim_private_messages()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[MessageEvent | None] = loop.create_future()
        self._waiter = waiter
        self._want = want
        try:
            # skip_responder=False: an early answer waits in the session's queue, oldest first.
            early = controller._take_queued(lambda e: _wanted(e, want))
            if early is not None:
                waiter.set_result(early)
            if prompt is not None:
                await self.send(prompt)
            if not waiter.done():
                # This wait's deadline is the session's: one entry in the registry's heap.
                controller._set_deadline(loop.time() + seconds)
            event = await waiter
        finally:
            self._waiter = None
            if controller.reason is None:
                controller._set_deadline(math.inf)  # no deadline until the next question
        if event is None:
            self._check_open()  # woken by the end of the session, not by the timeout
            return None
        self._last = event
        return event

    # --- what the session tells its front, through _Inbox --------------------------------------

    def _put(self, event: MessageEvent) -> None:
        # A message routed to this session (synchronously, from dispatch).
        waiter = self._waiter
        if waiter is not None and not waiter.done() and _wanted(event, self._want):
            waiter.set_result(event)  # a waiting getter gets it with no task
            return
        controller = self._controller
        if self.skip_responder:
            # Not what a reader waits for right now: not an answer, so not swallowed either.
            # It goes on to the plugin handlers as if no session had taken it.
            logger.debug(
                "botoy session {}: a message no text() waited for goes on to the plugins "
                "(skip_responder=True)",
                controller.key,
            )
            controller.pass_on(event)
            return
        controller._enqueue(event)  # the session's own rule: max_queue, then a warning

    def _expired(self) -> bool:
        # The getter's wait is over: it returns None; the session goes on.
        self._controller._set_deadline(math.inf)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return True

    def _closed(self) -> None:
        # The session ended: a waiting getter wakes (and raises SessionClosedError).
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _claim_private_messages(self) -> None:
        # A member session also takes its user's private messages, unless another session of
        # the plugin holds them; retried at each wait so it takes over once that one ends.
        key = self._private_key
        if key is not None:
            self._registry.add_key(self._controller, key)

    # --- writing and ending -----------------------------------------------------------------

    async def send(self, message: Sendable) -> str:
        """Send to where the conversation is: the last message's chat, or the scope's chat.

        Usage: ``await ss.send("Thinking...")``. Returns the sent message's id.
        """
        last = self._last
        if last is not None:
            return await last.send(message)
        origin = self._origin
        if origin.target == self._reply_target:
            return await origin.send(message)
        # The scope's chat is not the trigger's (friend=True from a group, explicit ids).
        return await context_of(origin).send(self._reply_target, message)

    def finish(self, info: Sendable | None = None) -> NoReturn:
        """End the session now, and the handler with it; ``info`` (or the finish info) is sent.

        Usage, as in botoy: ``ss.finish("Bye!")``, no ``await`` needed (``await ss.finish()``
        works too). It raises ``HandlerFinished``, which no ``except Exception`` stops, to
        unwind the handler; the SDK sends ``info`` once the handler has unwound. ``info=""``
        sends nothing, and nothing is sent if the session had already been ended from outside
        (an exit word, the app stopping).
        """
        self._finish(info, "stopped")

    def _finish(self, info: Sendable | None, reason: EndReason) -> NoReturn:
        controller = self._controller
        interrupted = controller.interrupted
        if reason == "stopped":
            controller.stop()
        else:
            controller._end(reason)  # a must_* getter timed out: the end says so
        if info is None:
            info = self._finish_info() if callable(self._finish_info) else self._finish_info
        farewell = None
        if info and not interrupted:
            farewell = functools.partial(self.send, info)
        raise HandlerFinished(f"session {controller.key} finished", farewell)

    def _check_open(self) -> None:
        controller = self._controller
        if controller.reason is not None:
            refused = controller.error
            if isinstance(refused, SessionBusyError):
                # Another worker held the scope (several workers: the claim is checked in
                # Redis after start_session returned): as start_session would have raised.
                raise SessionBusyError(str(refused))
            closed = SessionClosedError(f"session {controller.key} has ended ({controller.reason})")
            closed.reason = controller.reason
            raise closed

    @staticmethod
    def _check_timeout(value: object) -> float:
        if isinstance(value, str):
            raise TypeError(
                f"the timeout must be a number of seconds, not {value!r}; "
                "to ask something, use text(prompt=...) or must_text(prompt)"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"the timeout must be a number of seconds, not {value!r}")
        if not value > 0:
            raise ValueError(f"the timeout must be more than 0 seconds, not {value!r}")
        return float(value)

    def __repr__(self) -> str:
        state = self._controller.reason or "open"
        return f"<BotoySession {self.scope.describe()} ({state})>"


@overload
def start_session(
    event: MessageEvent,
    /,
    *,
    group: bool | int | str | None = None,
    friend: bool | int | str | None = None,
    multi_user: bool | None = None,
    skip_responder: bool = True,
) -> BotoySession: ...
@overload
def start_session(
    group: bool | int | str | None = None,
    friend: bool | int | str | None = None,
    multi_user: bool | None = None,
    skip_responder: bool = True,
) -> BotoySession: ...
def start_session(
    first: MessageEvent | bool | int | str | None = None,
    /,
    friend: bool | int | str | None = None,
    multi_user: bool | None = None,
    skip_responder: bool = True,
    *,
    group: bool | int | str | None = None,
) -> BotoySession:
    """Start a botoy-style session for the message being handled; returns the session.

    Usage, inside a handler: ``ss = start_session(event)`` or, botoy style, ``start_session()``
    (the handler's own event). ``group``, ``friend`` and ``multi_user`` choose the scope (see the
    module docstring); ``skip_responder=False`` keeps messages sent while no ``text()`` waits.

    The session ends with ``finish()`` or when this handler returns or raises. Raises
    ``SessionBusyError`` if this plugin already has a session of that scope open.
    """
    # One implementation for both shapes: (event, /, **scope) and botoy's (group, friend, ...).
    event: MessageEvent | None = None
    if isinstance(first, MessageEvent):
        event = first
    elif first is not None:
        if group is not None:
            raise TypeError("start_session() got multiple values for argument 'group'")
        group = first
    handler_scope = current_scope.get()
    if handler_scope is None:
        raise RuntimeError(
            "start_session() must be called inside a plugin handler: the session ends with it"
        )
    if event is None:
        current = handler_scope.event
        if not isinstance(current, MessageEvent):
            raise RuntimeError(
                "start_session() found no current message; pass it: start_session(event, ...)"
            )
        event = current
    registry = registry_of(event)
    scope, reply_target = _resolve_scope(event, group, friend, multi_user)
    plugin = handler_scope.plugin
    platform, bot = event.platform, event.self_id
    key = scope.key(plugin, platform, bot)
    session = BotoySession(registry, event, scope, reply_target, skip_responder)
    controller = SessionController(
        registry,
        key=key,
        session_filter=BotoySessionFilter(plugin, key),
        event=event,
        call=None,  # the front reads the session itself: no waiter call
        timeout=math.inf,  # no deadline until a getter waits
        busy="queue",
        max_queue=registry.default_max_queue,
        plugin=plugin,
        inbox=_Inbox(session),
    )
    session._controller = controller
    try:
        registry.open(controller, "busy")
    except SessionBusyError:
        raise SessionBusyError(_busy_message(registry, key, plugin, scope)) from None
    if scope.kind == "member":
        session._private_key = BotoyScope("private", None, scope.user_id).key(plugin, platform, bot)
        session._claim_private_messages()
    handler_scope.cleanups.append(controller.stop)
    logger.debug("botoy session {} opened: {}", key, scope.describe())
    return session


def _busy_message(registry: SessionRegistry, key: str, plugin: str, scope: BotoyScope) -> str:
    holder = registry.get(key)
    if holder is None and scope.kind == "private":
        # Held as the extra key of a member session: the user's private messages are taken.
        return (
            f"start_session: plugin {plugin!r} already has a session that takes the private "
            f"messages of user {scope.user_id} (one started in a group); finish it first"
        )
    return (
        f"start_session: plugin {plugin!r} already has an open session for {scope.describe()}; "
        "finish() it, or let the handler that opened it return, before starting another"
    )
