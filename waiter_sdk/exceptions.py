"""Every error the SDK raises on purpose.

```
WaiterError
├── ConfigError(ValueError)            a setting is missing, unknown or invalid
├── PluginError                        a plugin cannot be loaded or declares a bad handler
├── EventError(ValueError)             an event or message cannot be built from what a platform sent
├── SessionError
│   ├── SessionTimeoutError(TimeoutError)  the session's deadline passed
│   ├── SessionBusyError               the session key is already held by another session
│   └── SessionClosedError             the session was ended from outside (replaced, closed, shutdown)
│       └── QueueCancelledError        cancel_queued() dropped a message before it was sent
├── OwnershipError                     the Redis that records which worker owns a session failed
├── DeliveryError                      the Redis streams that carry events to workers failed
├── AdapterError
│   ├── AdapterConnectionError(ConnectionError)  the platform connection is down or went down
│   ├── ActionFailedError              the platform answered an action with a failure
│   └── ActionTimeoutError(TimeoutError)         the platform did not answer an action in time
└── StorageError                       the database cannot be reached, or refused a read or write
    ├── SchemaError                    declared fields disagree with what the database holds
    └── StoredValueError(ValueError)   a value (stored, or about to be) fails its field's type
```

Each subclasses the closest built-in too, so ``except TimeoutError:`` and ``except ConnectionError:``
keep working for code that knows nothing about this SDK.

Control flow is not an error and stands outside the tree, beside ``asyncio.CancelledError``:

```
BaseException
└── HandlerFinished                    ends the running handler quietly (botoy's finish())
```

It derives from ``BaseException`` so that ``except WaiterError:`` or ``except Exception:`` in a
plugin cannot stop a ``finish()`` half-way (a handler that catches everything and goes on
talking after it said goodbye). Only the bus catches it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

__all__ = [
    "ActionFailedError",
    "ActionTimeoutError",
    "AdapterConnectionError",
    "AdapterError",
    "ConfigError",
    "DeliveryError",
    "EventError",
    "HandlerFinished",
    "OwnershipError",
    "PluginError",
    "QueueCancelledError",
    "SchemaError",
    "SessionBusyError",
    "SessionClosedError",
    "SessionError",
    "SessionTimeoutError",
    "StorageError",
    "StoredValueError",
    "WaiterError",
]


class WaiterError(Exception):
    """Root of every error raised on purpose by waiter_sdk."""


class ConfigError(WaiterError, ValueError):
    """A setting is unknown or has a value outside what it accepts."""


class PluginError(WaiterError):
    """A plugin failed to load: import error, duplicate name or command, bad handler."""


class HandlerFinished(BaseException):
    """Ends the running handler quietly; the bus neither logs nor re-raises it.

    ``farewell``, when set, is what the handler still had to say (botoy's finish info): the
    bus awaits it once the handler has unwound, so ``ss.finish("Bye")`` works without
    ``await``.
    """

    def __init__(
        self, message: str = "", farewell: Callable[[], Awaitable[object]] | None = None
    ) -> None:
        super().__init__(message)
        self.farewell = farewell


class EventError(WaiterError, ValueError):
    """Platform data could not be turned into an event or a message."""


class SessionError(WaiterError):
    """Base of the session errors."""


class SessionTimeoutError(SessionError, TimeoutError):
    """The session reached its deadline; raised in the code that opened it."""


class SessionBusyError(SessionError):
    """Another open session already holds this key."""


class SessionClosedError(SessionError):
    """The session was ended from outside: replaced, closed by the app, or shut down.

    ``reason`` is its end reason when the session layer raised it (``"replaced"``,
    ``"shutdown"``, ``"reloaded"``, ``"cancelled"``...), so a plugin can tell its user why.
    """

    reason: str | None = None


class QueueCancelledError(SessionClosedError):
    """``cancel_queued()`` dropped this message before it was sent.

    A subclass of ``SessionClosedError``, so a handler that does not catch it ends quietly.
    """


class OwnershipError(WaiterError):
    """The Redis that records which worker process owns each session key could not be reached,
    or refused a claim, refresh, release or look-up (several workers, ``waiter_sdk.cluster``).

    Apart from ``StorageError``: a plugin that catches ``StorageError`` to carry on without its
    stored data must not also swallow a session that could not open, and the message names the
    ownership Redis, not ``WAITER_STORAGE``.
    """


class DeliveryError(WaiterError):
    """The Redis streams that carry events from the ingress to the workers could not be reached,
    or refused a send, read, acknowledgement or claim (several workers, ``waiter_sdk.cluster``).

    Apart from ``OwnershipError``: an event that could not be sent or read is retried by the
    loop that moves events (it stays in the stream, or the platform sends it again), while a
    session that could not be claimed fails its opener; one ``except`` must not cover both.
    """


class AdapterError(WaiterError):
    """Base of the errors that come from talking to a platform."""


class AdapterConnectionError(AdapterError, ConnectionError):
    """The connection to the platform is not available, or closed while a call was pending."""


class ActionFailedError(AdapterError):
    """The platform answered an action with a failure status or an error code."""

    def __init__(
        self, action: str, retcode: int | None, message: str = "", wording: str = ""
    ) -> None:
        self.action = action
        self.retcode = retcode
        self.message = message
        self.wording = wording
        detail = wording or message or "no message"
        super().__init__(f"action {action!r} failed with retcode {retcode}: {detail}")


class ActionTimeoutError(AdapterError, TimeoutError):
    """The platform did not answer an action within its timeout."""

    def __init__(self, action: str, timeout: float) -> None:
        self.action = action
        self.timeout = timeout
        super().__init__(f"action {action!r} got no answer within {timeout:g} s")


class StorageError(WaiterError):
    """The storage backend cannot be reached, or refused a read or a write.

    The message names the setting that chose the backend (``WAITER_STORAGE``) and what failed.
    """


class SchemaError(StorageError):
    """The fields a plugin declares disagree with the fields its database holds (a field
    removed or renamed); the message says which and the command that resolves it."""


class StoredValueError(StorageError, ValueError):
    """A value fails its field's type: one read from the database, or one about to be written.

    Names the plugin, the field and whose record it is.
    """
