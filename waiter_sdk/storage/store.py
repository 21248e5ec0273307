"""``Storage``: plugins' typed user and channel fields and key-value data, on one backend.

Usage (plugins mostly go through ``event.observe_user()`` and ``self.kv``)::

    stats = await event.observe_user(QuizStats)   # loaded now
    stats.played += 1                             # written back when the handler returns

    async with app.storage.user("sim", "alice", QuizStats) as stats:   # anywhere else
        stats.played += 1                                              # written on exit

    await self.kv.put("motd", "hello")

``WAITER_STORAGE`` picks the backend: ``sqlite`` (default, ``<data_dir>/waiter.db``),
``sqlite:///path/to.db``, ``redis://host:port/db`` (``pip install 'waiter-sdk[redis]'``) or
``memory``. Backends are imported when the app opens its storage, never with ``waiter_sdk``.

A backend that cannot be opened does not stop the bot: the failure is logged once, naming the
setting, every storage call raises ``StorageError`` saying why, and each call tries again, so a
database that comes back is used without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from loguru import logger
from pydantic import ValidationError

from ..exceptions import SchemaError, StorageError, StoredValueError
from ..session._context import current_scope, current_session
from .address import open_backend, redact_url
from .backend import Backend, Bucket, Scope, channel_owner, user_owner
from .fields import Fields, FieldsSpec
from .kv import KeyValue
from .schema import reconcile
from .values import unstorable

if TYPE_CHECKING:
    from ..events import MessageEvent

__all__ = ["Storage", "WriteBack"]

M = TypeVar("M", bound=Fields)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Declared:
    plugin: str
    scope: Scope
    spec: FieldsSpec


class WriteBack:
    """The models observed during one handler run or one waiter call: written when it ends."""

    __slots__ = ("closed", "observed", "owner")

    def __init__(self, owner: str) -> None:
        self.owner = owner  # "handler quiz.answer", for errors
        self.observed: list[Fields] = []
        self.closed = False

    async def flush(self) -> None:
        """Write back every observed model that changed; raise the first failure after all ran."""
        self.closed = True
        first: BaseException | None = None
        for model in self.observed:
            try:
                await Storage.flush(model)
            except Exception as exc:
                first = first or exc
        if first is not None:
            raise first


class _Binding:
    """What ties an observed model to its record: where it lives and what was loaded."""

    __slots__ = ("bucket", "snapshot", "spec", "storage")

    def __init__(
        self, storage: Storage, bucket: Bucket, spec: FieldsSpec, snapshot: dict[str, Any]
    ) -> None:
        self.storage = storage
        self.bucket = bucket
        self.spec = spec
        self.snapshot = snapshot


class Storage:
    """The app's storage: declared fields, observed records, and each plugin's key-value data."""

    def __init__(self, url: str = "memory", data_dir: Path | str = "data", timeout: float = 5.0):
        self.url = url
        self.data_dir = Path(data_dir)
        self.timeout = timeout
        self.describe = redact_url(url)
        self._backend: Backend | None = None
        self._declared: dict[type[Fields], _Declared] = {}
        self._by_plugin: dict[tuple[str, Scope], type[Fields]] = {}
        self._checked: set[tuple[str, Scope]] = set()
        # Fields found to disagree with the database after their plugin loaded (it could not
        # be checked then): only that plugin's fields fail, with this message.
        self._refused: dict[tuple[str, Scope], str] = {}
        self._failure: StorageError | None = None
        self._opening: asyncio.Lock | None = None
        self._closed = False
        # Calls in flight, so a virtual clock can wait for the database (see ``pending``).
        self._busy = 0
        self._quiet: asyncio.Future[None] | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def backend(self) -> Backend | None:
        """The open backend, or ``None`` until the first successful open."""
        return self._backend

    async def open(self) -> bool:
        """Open the backend and check every declared schema; ``False`` (logged) if it failed.

        A ``SchemaError`` is raised, not logged: a plugin whose fields disagree with the
        database must not run on it.
        """
        try:
            await self._ensure_open()
        except SchemaError:
            raise
        except StorageError as exc:
            logger.error("storage unavailable, retried on each use: {}", exc)
            return False
        return True

    async def _ensure_open(self) -> Backend:
        backend = self._backend
        if backend is not None:
            return backend
        if self._closed:
            raise StorageError(f"storage {self.describe} is closed (the app stopped)")
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._backend is not None:
                return self._backend
            candidate = open_backend(self.url, self.data_dir, self.timeout)
            try:
                await candidate.open()
            except StorageError as exc:
                self._failure = exc
                with contextlib.suppress(Exception):
                    await candidate.close()
                raise
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await candidate.close()
                failure = StorageError(
                    f"storage {self.describe} (WAITER_STORAGE) could not be opened: "
                    f"{type(exc).__name__}: {exc}"
                )
                self._failure = failure
                raise failure from exc
            if self._failure is not None:
                logger.info("storage {} is available again", self.describe)
            self._failure = None
            self._backend = candidate
        return candidate

    async def close(self) -> None:
        """Finish pending writes and close the backend."""
        self._closed = True
        backend, self._backend = self._backend, None
        if backend is not None:
            await backend.close()

    # --- calls --------------------------------------------------------------------------------

    async def _run(
        self, call: Callable[[Backend], Awaitable[T]], fields_of: tuple[str, Scope] | None = None
    ) -> T:
        self._busy += 1
        try:
            backend = self._backend
            if backend is None or len(self._checked) != len(self._by_plugin):
                backend = await self._ensure_open()
                await self._check_pending(backend)
            if fields_of is not None and self._refused and fields_of in self._refused:
                raise SchemaError(self._refused[fields_of])
            return await call(backend)
        finally:
            self._busy -= 1
            if not self._busy and self._quiet is not None:
                quiet, self._quiet = self._quiet, None
                if not quiet.done():
                    quiet.set_result(None)

    def pending(self) -> asyncio.Future[None] | None:
        """A future done when no call is in flight, or ``None`` if none is (for test clocks)."""
        if not self._busy:
            return None
        if self._quiet is None:
            self._quiet = asyncio.get_running_loop().create_future()
        return self._quiet

    # --- declarations and schema --------------------------------------------------------------

    def declare(self, plugin: str, scope: Scope, model: type[Fields]) -> FieldsSpec:
        """Record that ``plugin`` keeps ``model`` per ``scope``; its schema is checked on open."""
        if not (isinstance(model, type) and issubclass(model, Fields)):
            raise StorageError(
                f"plugin {plugin}: {scope}_fields must subclass waiter_sdk.storage.Fields, "
                f"not {model!r}"
            )
        held = self._declared.get(model)
        if held is not None and (held.plugin, held.scope) != (plugin, scope):
            raise StorageError(
                f"{model.__qualname__} is already the {held.scope} fields of plugin "
                f"{held.plugin}; each plugin declares a model of its own"
            )
        spec = FieldsSpec(model)
        self._declared[model] = _Declared(plugin, scope, spec)
        self._by_plugin[(plugin, scope)] = model
        self._uncheck(plugin, scope)
        return spec

    def forget(self, plugin: str) -> None:
        """Drop ``plugin``'s declarations (it was unloaded)."""
        for model, declared in list(self._declared.items()):
            if declared.plugin == plugin:
                del self._declared[model]
                self._by_plugin.pop((plugin, declared.scope), None)
                self._uncheck(plugin, declared.scope)

    def _uncheck(self, plugin: str, scope: Scope) -> None:
        self._checked.discard((plugin, scope))
        self._refused.pop((plugin, scope), None)

    def declared_model(self, plugin: str, scope: Scope) -> type[Fields] | None:
        return self._by_plugin.get((plugin, scope))

    async def check_schema(self, plugin: str) -> None:
        """Check ``plugin``'s declared fields against the database now (``SchemaError``)."""
        backend = await self._ensure_open()
        for (name, scope), model in list(self._by_plugin.items()):
            if name == plugin:
                self._refused.pop((name, scope), None)
                await self._check(backend, name, scope, model)

    async def _check(
        self, backend: Backend, plugin: str, scope: Scope, model: type[Fields]
    ) -> None:
        await reconcile(backend, plugin, scope, self._declared[model].spec)
        self._checked.add((plugin, scope))

    async def _check_pending(self, backend: Backend) -> None:
        if len(self._checked) == len(self._by_plugin):
            return
        for (plugin, scope), model in list(self._by_plugin.items()):
            if (plugin, scope) not in self._checked:
                try:
                    await self._check(backend, plugin, scope, model)
                except SchemaError as exc:
                    # Checked late (the database was unavailable when the plugin loaded): the
                    # other plugins' calls go on; this plugin's fields fail with the reason.
                    logger.error("{}", exc)
                    self._refused[(plugin, scope)] = str(exc)
                    self._checked.add((plugin, scope))

    # --- observed records ---------------------------------------------------------------------

    def _declared_for(self, model: type[M]) -> _Declared:
        declared = self._declared.get(model)
        if declared is None:
            raise StorageError(
                f"{getattr(model, '__qualname__', model)!r} is not declared by a loaded plugin: "
                "set user_fields or channel_fields on the plugin class to it"
            )
        return declared

    async def load(self, model: type[M], owner: str) -> M:
        """Load ``owner``'s record of ``model`` (defaults where nothing is stored), bound for
        ``flush``. Nothing writes it back by itself: call ``Storage.flush(model)``."""
        declared = self._declared_for(model)
        spec = declared.spec
        bucket = Bucket(declared.scope, declared.plugin, owner)
        stored = await self._run(
            lambda b: b.load(bucket, spec.names), (bucket.plugin, bucket.scope)
        )
        values = {**spec.defaults, **stored}
        try:
            instance = model.model_validate(values)
        except ValidationError as exc:
            raise StoredValueError(
                f"plugin {declared.plugin}: the stored {declared.scope} record of {owner} does "
                f"not fit {model.__qualname__}: {_fields_of(exc)}; fix the value or change the "
                "field's type"
            ) from None
        # What was loaded is what model_dump(mode="json") gives back for it: stored values
        # were written from such a dump, and the defaults are one. (A field whose type changed
        # may dump differently; then the first write-back writes it in its new form.)
        snapshot = values
        instance._binding = _Binding(self, bucket, spec, snapshot)
        return instance

    @staticmethod
    async def flush(model: Fields) -> None:
        """Write back the fields of ``model`` that changed since it was loaded or last flushed:
        values as they are now, counters as the change made to them."""
        binding = model._binding
        if not isinstance(binding, _Binding):
            raise StorageError(
                f"this {type(model).__qualname__} was not loaded from storage; use "
                "event.observe_user() or storage.user()"
            )
        spec, snapshot = binding.spec, binding.snapshot
        current = model.model_dump(mode="json")
        values = {
            name: value
            for name, value in current.items()
            if name not in spec.counters and value != snapshot[name]
        }
        increments = {
            name: (current[name] - snapshot[name], spec.defaults[name])
            for name in spec.counters
            if current[name] != snapshot[name]
        }
        if not values and not increments:
            return
        _check_storable(binding.bucket, values)
        bucket = binding.bucket
        counted = await binding.storage._run(
            lambda b: b.write(bucket, values, increments), (bucket.plugin, bucket.scope)
        )
        snapshot.update(values)
        for name, stored in counted.items():
            # Now the database's value (others' increments included), plus whatever this code
            # added while the write was in flight.
            later = getattr(model, name) - current[name]
            model.__dict__[name] = stored + later
            snapshot[name] = stored

    @staticmethod
    async def increment(model: Fields, name: str, by: int = 1) -> int:
        """Add ``by`` to counter ``name`` in the database now; the new value (also set on
        ``model``)."""
        binding = model._binding
        if not isinstance(binding, _Binding):
            raise StorageError(f"this {type(model).__qualname__} was not loaded from storage")
        if name not in binding.spec.counters:
            raise StorageError(
                f"{type(model).__qualname__}.{name} is not a Counter; only counters increment"
            )
        if type(by) is not int:
            raise StoredValueError(f"{type(model).__qualname__}.{name}: increment by an int")
        default = binding.spec.defaults[name]
        bucket = binding.bucket
        counted = await binding.storage._run(
            lambda b: b.write(bucket, {}, {name: (by, default)}), (bucket.plugin, bucket.scope)
        )
        stored = counted[name]
        pending = getattr(model, name) - binding.snapshot[name]
        model.__dict__[name] = stored + pending
        binding.snapshot[name] = stored
        return stored

    @contextlib.asynccontextmanager
    async def _observing(self, model: type[M], owner: str) -> AsyncIterator[M]:
        instance = await self.load(model, owner)
        try:
            yield instance
        finally:
            await self.flush(instance)

    def user(
        self, platform: str, user_id: str, model: type[M]
    ) -> contextlib.AbstractAsyncContextManager[M]:
        """``async with storage.user(platform, user_id, Model) as fields:`` written on exit."""
        return self._observing(model, user_owner(platform, user_id))

    def channel(
        self, platform: str, group_id: str | None, model: type[M], *, user_id: str | None = None
    ) -> contextlib.AbstractAsyncContextManager[M]:
        """``async with storage.channel(platform, group_id, Model) as fields:`` (a private chat:
        ``group_id=None, user_id=...``)."""
        return self._observing(model, channel_owner(platform, group_id, user_id))

    async def observe(self, event: MessageEvent, scope: Scope, model: type[M] | None) -> M:
        """What ``event.observe_user`` / ``observe_channel`` do: load, and write back when the
        handler run or waiter call that asked ends."""
        handler = current_scope.get()
        session = current_session.get() if handler is None else None
        # Only a handler run or waiter call that is still going writes back what it observes:
        # a task that outlives it would change a record that nobody writes.
        unit: WriteBack | None = None
        if handler is not None and not handler.ended:
            unit = handler.write_back
            if unit is None:
                unit = handler.write_back = WriteBack(f"handler {handler.plugin}.{handler.handler}")
        elif session is not None and session.busy_now:
            unit = session._write_back
            if unit is None:
                unit = session._write_back = WriteBack(f"waiter of session {session.key}")
        if unit is None or unit.closed:
            raise StorageError(
                f"observe_{scope}() writes back when its handler or waiter call returns, and "
                "none is running here (a task of your own, or on_load): use "
                f"'async with app.storage.{scope}(...) as fields:' instead"
            )
        if model is None:
            plugin = handler.plugin if handler is not None else session.plugin if session else ""
            found = self._by_plugin.get((plugin, scope)) if plugin else None
            if found is None:
                raise StorageError(
                    f"observe_{scope}() without a model: plugin {plugin or '?'} declares no "
                    f"{scope}_fields; pass the model, or declare it on the plugin"
                )
            model = found  # type: ignore[assignment]
        assert model is not None
        if scope == "user":
            owner = user_owner(event.platform, event.sender_id)
        else:
            owner = channel_owner(event.platform, event.group_id, event.sender_id)
        instance = await self.load(model, owner)
        unit.observed.append(instance)
        return instance

    # --- key-value ----------------------------------------------------------------------------

    def kv(self, plugin: str) -> KeyValue:
        """The key-value data of ``plugin``."""
        return KeyValue(self, plugin)

    async def owners(self, scope: Scope, plugin: str, prefix: str = "") -> list[str]:
        """Every owner with a stored ``scope`` record of ``plugin`` (for rankings, exports)."""
        return await self._run(lambda b: b.owners(scope, plugin, prefix))

    # --- schema changes (the `waiter-sdk storage` command) ------------------------------------

    async def fields(self, plugin: str, scope: Scope) -> dict[str, str]:
        return await self._run(lambda b: b.schema(scope, plugin))

    async def drop_field(self, plugin: str, scope: Scope, name: str) -> int:
        held = await self._run(lambda b: b.drop_field(scope, plugin, name))
        self._uncheck(plugin, scope)  # after: checked again against what is stored now
        return held

    async def rename_field(self, plugin: str, scope: Scope, old: str, new: str) -> int:
        held = await self._run(lambda b: b.rename_field(scope, plugin, old, new))
        self._uncheck(plugin, scope)
        return held


def _check_storable(bucket: Bucket, values: dict[str, Any]) -> None:
    # A value can pass its field's type and still not be JSON (an int past 64 bits, a NaN
    # appended in place): refused here, naming the field, before any backend has written part
    # of the record.
    for name, value in values.items():
        why = unstorable(value)
        if why is not None:
            raise StoredValueError(
                f"plugin {bucket.plugin}: the {bucket.scope} field {name!r} of {bucket.owner} "
                f"cannot be stored ({why}); nothing of this record was written"
            )


def _fields_of(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
    )
