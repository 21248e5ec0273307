"""Schema changes: the fields a plugin declares against the fields its database holds.

Adding a field with a default needs nothing. A field the database holds that the model no
longer declares (removed, or renamed) would leave its data unreachable, so it is refused with a
``SchemaError`` that names the ``waiter-sdk storage rename`` / ``drop`` command to run.
"""

from __future__ import annotations

from loguru import logger

from ..exceptions import SchemaError
from .backend import Backend, Scope
from .fields import FieldsSpec

__all__ = ["reconcile"]


async def reconcile(backend: Backend, plugin: str, scope: Scope, spec: FieldsSpec) -> None:
    """Check ``plugin``'s declared ``scope`` fields against what ``backend`` holds.

    A field the database holds but the model no longer declares raises ``SchemaError``
    saying what to run; new fields (and changed type names) are recorded.
    """
    stored = await backend.schema(scope, plugin)
    gone = sorted(set(stored) - set(spec.names))
    if gone:
        added = [name for name in spec.names if name not in stored]
        lines = []
        for name in gone:
            guess = next((a for a in added if spec.types[a] == stored[name]), None)
            hint = f" Was it renamed to {guess!r}?" if guess else ""
            lines.append(
                f"plugin {plugin}: the {scope} field {name!r} ({stored[name]}) is in the "
                f"database but {spec.model.__qualname__} no longer declares it.{hint} Declare it "
                f"again; or keep its data under a new name: "
                f"waiter-sdk storage rename {plugin} {scope} {name} {guess or '<new name>'}; "
                f"or delete its data: waiter-sdk storage drop {plugin} {scope} {name}"
            )
        raise SchemaError("\n".join(lines))
    changed = {n: t for n, t in spec.types.items() if stored.get(n) != t}
    if changed:
        for name in changed:
            if name in stored:
                logger.warning(
                    "plugin {}: {} field {!r} changed type from {} to {}; stored values "
                    "that do not fit the new type fail when they are loaded",
                    plugin,
                    scope,
                    name,
                    stored[name],
                    changed[name],
                )
        await backend.add_fields(scope, plugin, changed)
