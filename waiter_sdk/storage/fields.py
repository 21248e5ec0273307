"""``Fields``: what a plugin declares it keeps per user or per channel, with defaults.

Usage::

    class QuizStats(Fields):
        played: Counter = 0          # written back as +delta: concurrent scores add up
        best_streak: int = 0         # written back as a value: the last write wins
        titles: list[str] = Field(default_factory=list)   # "= []" works too; linters prefer this

    class Quiz(Plugin):
        name = "quiz"
        user_fields = QuizStats

A plain pydantic model, so a value of the wrong type is refused when it is assigned, naming the
field. Every field needs a default: a user the database has never seen gets the defaults.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, ConfigDict, PrivateAttr
from pydantic.fields import FieldInfo

from ..exceptions import PluginError

__all__ = ["Counter", "Fields", "FieldsSpec"]


class _CounterMark:
    """Marks an ``int`` field whose changes are applied as increments."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Counter"


COUNTER = _CounterMark()

Counter = Annotated[int, COUNTER]
"""An ``int`` field written back as the change made to it, atomically: two handlers that each
add 1 to a counter loaded as 5 leave 7, not 6."""


class Fields(BaseModel):
    """Base of the models plugins declare as ``user_fields`` or ``channel_fields``.

    Assignments are validated (``validate_assignment``), so ``stats.played = "many"`` raises
    at once, naming the field; unknown attributes, NaN and infinities are refused.
    """

    # No NaN or infinity: JSON cannot hold them (stored, they would come back as null and the
    # record would no longer load), so they are refused when assigned, like a wrong type.
    model_config = ConfigDict(validate_assignment=True, extra="forbid", allow_inf_nan=False)

    # Where this instance was loaded from (set by Storage.load); None for one built by hand.
    _binding: Any = PrivateAttr(default=None)

    async def flush(self) -> None:
        """Write back the fields changed since loading (or the last flush) now, instead of
        when the handler returns."""
        from .store import Storage

        await Storage.flush(self)

    async def increment(self, name: str, by: int = 1) -> int:
        """Add ``by`` to the counter ``name`` in the database now; returns its new value."""
        from .store import Storage

        return await Storage.increment(self, name, by)


def _is_counter(info: FieldInfo) -> bool:
    if any(isinstance(meta, _CounterMark) for meta in info.metadata):
        return True
    annotation = info.annotation
    return get_origin(annotation) is Annotated and any(
        isinstance(arg, _CounterMark) for arg in get_args(annotation)[1:]
    )


def _type_name(info: FieldInfo) -> str:
    # A readable description of the type, kept beside the field in the database so that a
    # schema error can say what the field used to be.
    annotation = info.annotation
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    return text or repr(annotation).replace("typing.", "")


class FieldsSpec:
    """One declared model, read once: its fields, which are counters, and their defaults."""

    __slots__ = ("counters", "defaults", "model", "names", "types")

    def __init__(self, model: type[BaseModel]) -> None:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise PluginError(f"declared fields must be a Fields (pydantic) class, not {model!r}")
        self.model = model
        self.names: tuple[str, ...] = tuple(model.model_fields)
        self.counters: frozenset[str] = frozenset(
            name for name, info in model.model_fields.items() if _is_counter(info)
        )
        self.types: dict[str, str] = {
            name: ("Counter" if name in self.counters else _type_name(info))
            for name, info in model.model_fields.items()
        }
        missing = [name for name, info in model.model_fields.items() if info.is_required()]
        if missing:
            raise PluginError(
                f"{model.__qualname__}: every stored field needs a default (a user or channel "
                f"the database has not seen yet gets the defaults); no default: {', '.join(missing)}"
            )
        defaults = model().model_dump(mode="json")
        self.defaults: dict[str, Any] = defaults
        for name in self.counters:
            if not isinstance(defaults[name], int):
                raise PluginError(f"{model.__qualname__}.{name}: a Counter's default is an int")
        if model.model_config.get("validate_assignment") is not True:
            raise PluginError(
                f"{model.__qualname__} must validate assignments: subclass "
                "waiter_sdk.storage.Fields, or set validate_assignment=True"
            )
