"""``App``: owns the settings, the bus, the session registry, the plugins and the adapters.

Usage::

    async with App(plugins=["example_plugins"], adapters=[ConsoleAdapter()]) as app:
        await app.wait_closed()
    # or, blocking until SIGINT/SIGTERM:
    App(plugins=[Greeter]).run()

Every event enters through ``dispatch``, synchronously and in arrival order: exit words first,
then session routing (a dict lookup per distinct filter), then the plugin handlers in one
tracked task.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import signal
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Literal, Self

from loguru import logger

from ._bus import EventBus, Handler, Place, TaskSet
from ._gate import Gates, current_gate
from ._outbound import Outbound
from .adapters.base import Adapter
from .events import Event, MessageChain, MessageEvent, Target, to_chain
from .exceptions import (
    PluginError,
    SchemaError,
    SessionClosedError,
    SessionTimeoutError,
    StorageError,
)
from .plugins.base import Plugin, handler_infos
from .plugins.loader import PluginSpec, resolve_plugins
from .session._context import current_scope, current_session
from .session.controller import SessionController
from .session.filters import SenderSessionFilter
from .session.manager import Sessions
from .session.registry import SessionRegistry
from .session.suggest import suggest
from .session.waiter import open_session

if TYPE_CHECKING:
    from .config import Settings

__all__ = ["App"]

Listener = Callable[..., None]
ListenerKind = Literal[
    "incoming",
    "sent",
    "session_opened",
    "session_changed",
    "session_ended",
    "error",
    "plugins_changed",
]
_captured: ContextVar[list[str] | None] = ContextVar("waiter_sdk_captured", default=None)
_PROMPT_FILTER = SenderSessionFilter()


def _log_end(session: SessionController) -> None:
    logger.debug("session {} (plugin {}) ended: {}", session.key, session.plugin, session.reason)


class App:
    """A bot: plugins, adapters and the session layer between them."""

    # False in a subclass that only carries events (the cluster's ingress): no plugin, not even
    # the built-in /help or settings.plugins, is loaded or unloaded.
    loads_plugins: bool = True

    def __init__(
        self,
        settings: Settings | None = None,
        plugins: Iterable[PluginSpec] = (),
        adapters: Iterable[Adapter] = (),
    ) -> None:
        if settings is None:
            # Imported here: pydantic-settings is most of what importing the package would cost.
            from .config import Settings

            settings = Settings.load()
        self.settings = settings
        from .storage.store import Storage  # pydantic, as settings; no backend until start

        self.storage = Storage(settings.storage, settings.data_dir, settings.storage_timeout)
        self.bus = EventBus(self.settings.command_prefixes)
        self.session_registry = self._new_registry()
        self.session_registry.on_open = self._session_opened
        self.session_registry.on_end = self._session_ended
        self.sessions = Sessions(self.session_registry)
        self.outbound = Outbound(self.settings.session.queue_delay)  # event.send_queued
        self.plugins: dict[str, Plugin] = {}
        self.plugin_errors: list[PluginError] = []
        self.adapters: list[Adapter] = list(adapters)
        self.tasks = TaskSet()
        self.state: Literal["new", "running", "stopping", "stopped"] = "new"
        self._specs: list[PluginSpec] = list(plugins)
        self._exit_words = frozenset(self.settings.session.exit_words)
        self._gates = Gates(self._resume, self.settings.session.order_window)
        self._listeners: dict[str, list[Listener]] = {
            "incoming": [],
            "sent": [],
            "session_opened": [],
            "session_changed": [],
            "session_ended": [],
            "error": [],
            "plugins_changed": [],
        }
        # Failures that are logged and survived (a handler that raised, a filter that raised):
        # the "error" listeners hear of each, so that a test kit can fail the test.
        self.bus.on_error = self._report
        self.session_registry.on_error = self._report
        if self.settings.log_level in ("TRACE", "DEBUG"):
            # Asked for, so only then: a loguru call that filters the line out still costs a
            # microsecond (it looks up its caller's module), and 10,000 sessions can end at once.
            self._listeners["session_ended"].append(_log_end)
        self._closed: asyncio.Event | None = None
        self._starting = False
        self._stack: contextlib.AsyncExitStack | None = None

    def _new_registry(self) -> SessionRegistry:
        # Called once, from __init__: a cluster worker's App subclass returns a registry that
        # also records ownership in Redis (cluster/sessions.py). Here it costs nothing per event.
        return SessionRegistry(self._release, self.settings.session.max_queue)

    # --- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Load plugins (a broken one is reported, the rest load), then start the adapters.

        Each step that starts pushes the step that undoes it, so ``stop()`` runs them in
        reverse, and a start that fails half-way undoes exactly what did start, then raises.
        """
        if self.state != "new":
            raise RuntimeError(f"App.start() called on an app that is {self.state}")
        self._closed = asyncio.Event()
        stack = self._stack = contextlib.AsyncExitStack()
        try:
            # Closed last, after every handler and session has ended and written back.
            stack.push_async_callback(self.storage.close)
            if self.loads_plugins:
                await self._load_plugins()
                stack.push_async_callback(self._unload_plugins)
            stack.push_async_callback(self.tasks.aclose)
            self.state = "running"  # events from the adapters below are dispatched at once
            stack.push_async_callback(self._drain)
            for adapter in self.adapters:
                await adapter.start(self)
                stack.push_async_callback(self._stop_adapter, adapter)
                logger.info("adapter {} ready: {}", adapter.platform, adapter.describe())
            # Runs first on stop, while every adapter is still up to carry goodbyes.
            stack.push_async_callback(self._wind_down)
        except BaseException:
            self.state = "stopping"
            await self._unwind()
            raise

    async def stop(self) -> None:
        """End every session (openers raise ``SessionClosedError``), stop adapters, cancel tasks.

        In reverse of ``start``: sessions end while the adapters still run (their openers get
        ``session.shutdown_grace`` seconds to say goodbye), then handler tasks are cancelled,
        the adapters stop, the app's own tasks end, and the plugins unload.
        """
        if self.state in ("stopping", "stopped", "new"):
            self.state = "stopped"
            return
        self.state = "stopping"
        await self._unwind()

    async def _unwind(self) -> None:
        stack, self._stack = self._stack, None
        try:
            if stack is not None:
                await stack.aclose()
        finally:
            self.state = "stopped"
            if self._closed is not None:
                self._closed.set()

    async def _load_plugins(self) -> None:
        from .plugins.builtin import Builtin

        self._register(Builtin())
        self._starting = True
        try:
            for spec in [*self._specs, *self.settings.plugins]:
                self.load_plugin(spec, strict=False)
            for plugin in list(self.plugins.values()):
                await self._call_on_load(plugin)
        finally:
            self._starting = False

    async def _unload_plugins(self) -> None:
        for plugin in reversed(list(self.plugins.values())):
            try:
                await plugin.on_unload()
            except Exception as exc:
                logger.exception("plugin {} on_unload raised", plugin.plugin_name())
                self._report(exc)

    async def _stop_adapter(self, adapter: Adapter) -> None:
        try:
            await adapter.stop()
        except Exception:
            logger.exception("adapter {} failed to stop cleanly", adapter.platform)

    async def _wind_down(self) -> None:
        # Sessions end first, while the adapters can still carry what their openers say.
        dropped = self._gates.clear()
        self.bus.release_all()
        if dropped:
            logger.warning("{} held messages dropped at shutdown", dropped)
        openers = self.session_registry.shutdown()
        me = asyncio.current_task()
        waiting = {t for t in openers if t is not me and not t.done()}
        if waiting:
            # Their except/finally blocks run now; what has not finished in the grace time
            # (a handler that sleeps in its finally) is cancelled with the rest below.
            await asyncio.wait(waiting, timeout=self.settings.session.shutdown_grace)
        await self._drain()

    async def _drain(self) -> None:
        # Also the safety net of a start that failed: whatever is left ends here.
        self.session_registry.shutdown()
        self.outbound.close()
        await self.bus.tasks.aclose()
        await self.session_registry.tasks.aclose()

    def request_stop(self) -> None:
        """Ask the app to stop soon (safe from signal handlers and from its own tasks)."""
        if self.state == "running":
            self.tasks.spawn(self.stop(), name="app-stop")

    async def wait_closed(self) -> None:
        """Wait until ``stop()`` has finished."""
        if self._closed is None:
            raise RuntimeError("the app was never started")
        await self._closed.wait()

    def run(self) -> None:
        """Start, serve until SIGINT or SIGTERM, then stop cleanly. Blocks.

        Runs on uvloop when it is installed (``waiter-sdk[speed]``) unless ``loop`` says
        otherwise; see ``waiter_sdk._loops``.
        """
        from ._loops import choose_loop

        choice = choose_loop(self.settings.loop)
        logger.info("event loop: {}", choice.name)
        with asyncio.Runner(loop_factory=choice.factory) as runner:
            runner.run(self.serve())

    async def serve(self) -> None:
        """The body of ``run()``: start, wait for a signal or ``stop()``, stop."""
        loop = asyncio.get_running_loop()
        await self.start()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
                loop.add_signal_handler(sig, self.request_stop)
        try:
            await self.wait_closed()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
            await self.stop()

    # --- plugins -----------------------------------------------------------------------

    def load_plugin(self, spec: PluginSpec, *, strict: bool = True) -> list[Plugin]:
        """Load plugins from ``spec``; with ``strict`` the first problem raises ``PluginError``.

        Without ``strict``, problems are logged and kept in ``plugin_errors`` and whatever
        could load is loaded.
        """
        resolved = resolve_plugins([spec])
        loaded: list[Plugin] = []
        errors = list(resolved.errors)
        for plugin in resolved.plugins:
            try:
                self._register(plugin)
                loaded.append(plugin)
            except PluginError as refused:
                errors.append(refused)
        if self.state == "running" and not self._starting:
            for plugin in loaded:
                self.tasks.spawn(self._call_on_load(plugin))
        for error in errors:
            self.plugin_errors.append(error)
            logger.error("plugin not loaded: {}", error)
        if strict and errors:
            raise errors[0]
        return loaded

    async def _call_on_load(self, plugin: Plugin) -> None:
        name = plugin.plugin_name()
        if plugin.user_fields is not None or plugin.channel_fields is not None:
            try:
                await self.storage.check_schema(name)
            except SchemaError as refused:
                # Its fields disagree with the database: it must not run on that data.
                self._unregister(plugin)
                error = PluginError(str(refused))
                self.plugin_errors.append(error)
                logger.error("plugin not loaded: {}", error)
                return
            except StorageError as exc:
                # The bot goes on; the schema is checked when the database is reachable.
                logger.error("plugin {}: storage unavailable, retried on use: {}", name, exc)
        try:
            await plugin.on_load()
        except Exception as failure:
            self._unregister(plugin)
            error = PluginError(
                f"plugin {name} failed in on_load: {type(failure).__name__}: {failure}"
            )
            self.plugin_errors.append(error)
            logger.opt(exception=failure).error("{}", error)

    def _unregister(self, plugin: Plugin) -> None:
        name = plugin.plugin_name()
        self.bus.remove_plugin(name)
        self.plugins.pop(name.lower(), None)
        self.storage.forget(name)

    def _register(self, plugin: Plugin) -> None:
        name = plugin.plugin_name()
        if not name.strip():
            raise PluginError(f"plugin {type(plugin).__qualname__} has an empty name")
        held = self.plugins.get(name.lower())
        if held is not None:
            raise PluginError(
                f"plugin name {name!r} ({type(plugin).__module__}.{type(plugin).__qualname__}) "
                f"clashes with loaded plugin {held.plugin_name()!r} "
                f"({type(held).__module__}.{type(held).__qualname__}); names ignore case"
            )
        plugin._app = self
        handlers: list[Handler] = []
        seen: set[str] = set()
        for klass in type(plugin).__mro__:
            for attr, value in vars(klass).items():
                if attr in seen:
                    continue
                seen.add(attr)
                for info in handler_infos(value):
                    handlers.append(Handler(name, attr, info, getattr(plugin, attr)))
        try:
            for handler in handlers:
                self.bus.add(handler)
            for scope, model in (("user", plugin.user_fields), ("channel", plugin.channel_fields)):
                if model is not None:
                    try:
                        self.storage.declare(name, scope, model)  # type: ignore[arg-type]
                    except (StorageError, PluginError) as exc:
                        raise PluginError(f"plugin {name}: {exc}") from exc
        except PluginError:
            self.bus.remove_plugin(name)
            self.storage.forget(name)
            plugin._app = None
            raise
        self.plugins[name.lower()] = plugin

    # --- events in ---------------------------------------------------------------------

    def dispatch(self, event: Event) -> None:
        """Route one event now: exit words, then sessions, then the sender gate and handlers.

        Synchronous and non-blocking, so adapters call it from their reader in arrival order.
        """
        if self.state != "running":
            logger.warning("event dropped: the app is {} ({!r})", self.state, event)
            return
        event._context = self
        if self._listeners["incoming"]:
            self._notify_listeners("incoming", event)
        if not isinstance(event, MessageEvent):
            self.bus.publish(event)
            return
        self._route(event)

    def _route(self, event: MessageEvent, place: Place | None = None) -> None:
        # The session the message would reach (an exit word ends it instead), then the
        # sender's gate, then the handlers. Sessions
        # come before the gate on purpose: a message that an open session takes never waits
        # behind its sender's running handler (a player's answer to a group game while their
        # /weather is still being fetched). What the gate holds is what no session took yet:
        # "/login" then "alice" at once, where the session that should take "alice" is about
        # to open. A held message comes back here when the gate opens, with its place.
        session = self.session_registry.route(event)
        if session is not None:
            if place is not None:
                self.bus.release(place)
            if self._exit_words and event.message_str.strip() in self._exit_words:
                # An exit word ends the session it would reach; no waiter sees it (rule 15).
                self.session_registry.cancel(session)
                notice = self.settings.session.exit_notice
                if notice:
                    self.tasks.spawn(self._notify(event, notice))
                return
            session._deliver(event)  # _seams.Registered: routing's hand-over, once per message
            return
        gates = self._gates
        if gates.closed:
            gate = gates.holds(event)
            if gate is not None:
                # It waits for its sender's previous message; its place in arrival order is
                # kept, so that later messages of others reach no handler before it.
                gate.hold(event, place if place is not None else self.bus.reserve(event))
                return
        self._publish(event, place)

    def _resume(self, event: MessageEvent, place: Place) -> None:
        # A gate opened: the held message takes the whole route again, with its place.
        if self.state != "running":
            self.bus.release(place)
            return
        self._route(event, place)

    def _publish(self, event: MessageEvent, place: Place | None = None) -> None:
        selected = self.bus.select(event)
        if not selected:
            if place is not None:
                self.bus.release(place)
            return
        gate = self._gates.close(event)
        if gate is None:
            self.bus.spawn(event, selected, place=place)
            return
        context = contextvars.Context()
        context.run(current_gate.set, gate)
        self.bus.spawn(event, selected, context, functools.partial(self._gates.open, gate), place)

    def _release(self, events: list[MessageEvent]) -> None:
        # Rule 8: what queued behind a session that ended goes to the plugins, in order, and
        # never to a session. Not through the gates either: they hold a message back for a
        # session its sender's handler may open, which cannot apply here, and holding it would
        # let others' messages pass it.
        for event in events:
            if self.state != "running":
                return
            self._publish(event)

    async def _notify(self, event: MessageEvent, text: str) -> None:
        try:
            await event.send(text)
        except Exception as exc:
            logger.exception("could not send the exit notice")
            self._report(exc)

    # --- listeners (sandbox inspector, logs, tests) ------------------------------------

    def listen(self, kind: ListenerKind, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` on ``kind``; returns a function that removes it.

        Kinds: ``"incoming"`` (event), ``"sent"`` (target, chain, message id),
        ``"session_opened"`` / ``"session_ended"`` (controller), ``"session_changed"``
        (controller, when an open session's deadline moves: ``controller.keep(...)``, or a
        botoy session's getter starting or ending its wait; ``controller.deadline`` is then
        the new one, ``math.inf`` for none), ``"error"`` (the exception of a handler, filter,
        cleanup or listener that raised; it was logged and the app went on),
        ``"plugins_changed"`` (no arguments: plugins were reloaded, ``waiter-sdk run --reload``).

        Listeners are called synchronously, inside the routing that caused them: they must be
        quick and never await. Moving a deadline costs nothing more while no
        ``"session_changed"`` listener is registered.
        """
        bucket = self._listeners[kind]
        bucket.append(listener)
        if kind == "session_changed":
            self.session_registry.on_change = self._session_changed

        def unlisten() -> None:
            if listener in bucket:
                bucket.remove(listener)
            if kind == "session_changed" and not bucket:
                self.session_registry.on_change = None

        return unlisten

    def _notify_listeners(self, kind: str, *args: object) -> None:
        # A broken observer (a sandbox pane, a metrics hook) must never break routing.
        for listener in self._listeners[kind]:
            try:
                listener(*args)
            except Exception as exc:
                logger.exception("{} listener {!r} raised", kind, listener)
                if kind != "error":
                    self._report(exc)

    def _report(self, exc: BaseException) -> None:
        if self._listeners["error"]:
            self._notify_listeners("error", exc)

    def _session_opened(self, session: SessionController) -> None:
        scope = current_scope.get()
        if scope is not None:
            # A handler that waits on a session it opened must not hold back the handlers
            # after it (API section 3): the rest of its chain goes on now.
            self.bus.hand_off(scope)
        gate = current_gate.get()
        if gate is not None:
            # The handler has opened its session: the sender's next messages can go to it now.
            self._gates.open(gate)
        if self._listeners["session_opened"]:
            self._notify_listeners("session_opened", session)

    def _session_changed(self, session: SessionController) -> None:
        self._notify_listeners("session_changed", session)

    def _session_ended(self, session: SessionController) -> None:
        if self._listeners["session_ended"]:
            self._notify_listeners("session_ended", session)

    # --- events out --------------------------------------------------------------------

    def adapter_for(self, platform: str) -> Adapter:
        for adapter in self.adapters:
            if adapter.platform == platform:
                return adapter
        raise LookupError(f"no adapter for platform {platform!r} in this app")

    async def send(self, target: Target, message: object) -> str:
        """Send to any conversation (not only a reply); returns the message id."""
        chain = to_chain(message)
        return await self._send(target, chain, None, self.adapter_for(target.platform))

    async def send_for(self, event: MessageEvent, chain: MessageChain) -> str:
        session = current_session.get()
        if session is not None and session.interrupted:
            raise SessionClosedError(
                f"session {session.key} ended ({session.reason}); its waiter may not send"
            )
        adapter = event.adapter if event.adapter is not None else self.adapter_for(event.platform)
        message_id = await self._send(event.target, chain, event, adapter)
        if session is not None and session.reason is None:
            key = session.filter.key_for_sent(event, message_id)
            if key:
                self.session_registry.add_key(session, key)
        scope = current_scope.get()
        if scope is not None:
            scope.sent.append(message_id)
        return message_id

    async def _send(
        self, target: Target, chain: MessageChain, event: MessageEvent | None, adapter: Any
    ) -> str:
        message_id = str(await adapter.send(target, chain))
        captured = _captured.get()
        if captured is not None:
            captured.append(chain.plain_text)
        if self._listeners["sent"]:
            self._notify_listeners("sent", target, chain, message_id)
        return message_id

    # --- Koishi-style helpers ----------------------------------------------------------

    async def prompt_for(self, event: MessageEvent, timeout: float | None) -> str | None:
        answer: list[str] = []

        async def take(controller: SessionController, reply: MessageEvent) -> None:
            answer.append(reply.message_str)
            controller.stop()

        session = open_session(
            event,
            take,
            timeout=self.settings.session.prompt_timeout if timeout is None else timeout,
            session_filter=_PROMPT_FILTER,
        )
        try:
            await session.wait()
        except SessionTimeoutError:
            return None
        return answer[0] if answer else None

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
    ) -> str | None:
        return await suggest(
            event,
            expect,
            actual,
            prefix=prefix,
            suffix=suffix,
            timeout=timeout,
            min_similarity=min_similarity,
        )

    async def send_queued_for(
        self, event: MessageEvent, chain: MessageChain, delay: float | None
    ) -> str | None:
        return await self.outbound.send(event, chain, delay)

    def cancel_queued_for(self, event: MessageEvent) -> int:
        return self.outbound.cancel(event.target)

    async def execute_for(self, event: MessageEvent, text: str) -> list[str]:
        twin = MessageEvent(
            platform=event.platform,
            self_id=event.self_id,
            message=MessageChain([text]),
            message_id=event.message_id,
            sender_id=event.sender_id,
            sender_name=event.sender_name,
            sender_role=event.sender_role,
            group_id=event.group_id,
            to_me=event.to_me,
            timestamp=event.timestamp,
            adapter=event.adapter,
        )
        twin._context = self
        captured: list[str] = []
        token = _captured.set(captured)
        try:
            await self.bus.run_now(twin)
        finally:
            _captured.reset(token)
        return captured
