"""``Plugin`` and the handler decorators.

Usage::

    class Greeter(Plugin):
        name = "greeter"
        description = "Says hello"

        @command("hello", aliases=["hi"])
        async def hello(self, event: MessageEvent):
            yield event.plain_result(f"Hello, {event.sender_name}!")

A decorator only records what the handler wants (a ``HandlerInfo`` on the function); the loader
reads it when the plugin is loaded, so decorating has no side effect on any app.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from ..exceptions import PluginError

if TYPE_CHECKING:
    from ..app import App
    from ..storage.fields import Fields
    from ..storage.kv import KeyValue

__all__ = [
    "HandlerInfo",
    "HandlerKind",
    "Plugin",
    "command",
    "handler_infos",
    "on_message",
    "on_notice",
    "on_request",
    "regex",
]

HandlerKind = Literal["message", "notice", "request", "meta"]
F = TypeVar("F", bound=Callable[..., Any])
_ATTR = "__waiter_handlers__"


@dataclass(frozen=True, slots=True)
class HandlerInfo:
    """What a decorator declared about a handler."""

    kind: HandlerKind
    priority: int = 0
    command: str | None = None
    aliases: tuple[str, ...] = ()
    prefix: str | None = None
    pattern: re.Pattern[str] | None = None
    types: tuple[str, ...] = ()
    description: str = ""


def handler_infos(func: object) -> tuple[HandlerInfo, ...]:
    """The declarations attached to ``func`` by the decorators (outermost last)."""
    infos = getattr(func, _ATTR, ())
    return tuple(infos)


def _check_handler(func: object, decorator: str) -> None:
    if not callable(func):
        raise PluginError(f"@{decorator} decorates a function, not {type(func).__name__}")
    name = getattr(func, "__qualname__", repr(func))
    if not (inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)):
        raise PluginError(
            f"@{decorator} handler {name} must be 'async def' (a coroutine or an async generator)"
        )
    params = [
        p
        for p in inspect.signature(func).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    varargs = any(p.kind is p.VAR_POSITIONAL for p in inspect.signature(func).parameters.values())
    if len(params) != 2 and not (varargs and len(params) < 2):
        raise PluginError(
            f"@{decorator} handler {name} must take (self, event); "
            f"it takes {len(params)} positional parameters"
        )


def _attach(func: F, info: HandlerInfo, decorator: str) -> F:
    _check_handler(func, decorator)
    existing = list(getattr(func, _ATTR, ()))
    existing.append(info)
    setattr(func, _ATTR, tuple(existing))
    return func


def _describe(func: Callable[..., Any], description: str | None) -> str:
    if description is not None:
        return description
    doc = inspect.getdoc(func) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def command(
    name: str,
    aliases: Iterable[str] = (),
    prefix: str | None = None,
    *,
    priority: int = 0,
    description: str | None = None,
) -> Callable[[F], F]:
    """Handle ``"/name args..."``; the words after the name are ``event.args``.

    ``prefix=None`` uses the configured prefixes (default ``/``); ``prefix=""`` needs none.
    """
    if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name):
        raise PluginError(f"command name must be one non-empty word, not {name!r}")
    alias_tuple = (aliases,) if isinstance(aliases, str) else tuple(aliases)
    for alias in alias_tuple:
        if not alias or any(c.isspace() for c in alias):
            raise PluginError(f"command alias must be one non-empty word, not {alias!r}")

    def decorate(func: F) -> F:
        info = HandlerInfo(
            kind="message",
            priority=priority,
            command=name,
            aliases=alias_tuple,
            prefix=prefix,
            description=_describe(func, description),
        )
        return _attach(func, info, "command")

    return decorate


def on_message(priority: int = 0, *, description: str | None = None) -> Callable[[F], F]:
    """Handle every message that no session consumed and no earlier handler stopped.

    Handlers run from the highest ``priority`` down; equal priorities run in load order.
    """

    def decorate(func: F) -> F:
        info = HandlerInfo(
            kind="message", priority=priority, description=_describe(func, description)
        )
        return _attach(func, info, "on_message")

    return decorate


def regex(pattern: str | re.Pattern[str], flags: int = 0, *, priority: int = 0) -> Callable[[F], F]:
    """Handle messages whose text matches ``pattern`` (``re.search``); the match is ``event.match``."""
    try:
        compiled = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern, flags)
    except re.error as exc:
        raise PluginError(f"@regex pattern {pattern!r} does not compile: {exc}") from None

    def decorate(func: F) -> F:
        info = HandlerInfo(
            kind="message",
            priority=priority,
            pattern=compiled,
            description=_describe(func, None),
        )
        return _attach(func, info, "regex")

    return decorate


def on_notice(*types: str, priority: int = 0) -> Callable[[F], F]:
    """Handle notices, all of them or only those whose ``type`` is in ``types``."""

    def decorate(func: F) -> F:
        return _attach(
            func, HandlerInfo(kind="notice", priority=priority, types=types), "on_notice"
        )

    return decorate


def on_request(*types: str, priority: int = 0) -> Callable[[F], F]:
    """Handle requests (friend, group), all of them or only those whose ``type`` is in ``types``."""

    def decorate(func: F) -> F:
        return _attach(
            func, HandlerInfo(kind="request", priority=priority, types=types), "on_request"
        )

    return decorate


class Plugin:
    """Base class of plugins. Set ``name`` (unique, case-insensitive) and ``description``.

    ``on_load`` and ``on_unload`` run when the app starts and stops; ``self.app`` is the app.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: What the plugin keeps per user and per channel (``waiter_sdk.storage.Fields`` models),
    #: read with ``event.observe_user()`` / ``event.observe_channel()``; see docs/storage.md.
    user_fields: ClassVar[type[Fields] | None] = None
    channel_fields: ClassVar[type[Fields] | None] = None
    _app: App | None = None

    @classmethod
    def plugin_name(cls) -> str:
        return cls.name or cls.__name__

    @property
    def app(self) -> App:
        if self._app is None:
            raise RuntimeError(f"plugin {self.plugin_name()} is not loaded into an app")
        return self._app

    @property
    def kv(self) -> KeyValue:
        """This plugin's key-value data on the app's storage (``get`` / ``put`` / ``delete`` /
        ``increment`` / ``keys``)."""
        return self.app.storage.kv(self.plugin_name())

    # AstrBot's names for the same, so ported plugins keep working.
    async def put_kv_data(self, key: str, value: Any) -> None:
        await self.kv.put(key, value)

    async def get_kv_data(self, key: str, default: Any = None) -> Any:
        return await self.kv.get(key, default)

    async def delete_kv_data(self, key: str) -> None:
        await self.kv.delete(key)

    async def on_load(self) -> None:
        """Called once the plugin is registered, before events arrive."""

    async def on_unload(self) -> None:
        """Called when the app stops."""
