"""The commands a page offers when "/" is typed: the data behind ``/help``, as rows.

Usage::

    rows = command_rows(app)   # [{"name": "guess-number", "aliases": ["guess"], ...}, ...]

Each row names the command, its aliases, the prefix to type, the plugin, the description and
the arguments, read from a ``/name [arg] <arg>`` in the description (the docstring's first line,
as ``/help`` shows it), so a plugin documents its arguments once, where people read them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...app import App

__all__ = ["arguments_of", "command_rows"]


def arguments_of(name: str, description: str) -> str:
    """``"[topic]"`` from ``"Ask a question: /quiz [topic]."`` for ``name="quiz"``; else ``""``."""
    match = re.search(
        r"(?:^|\s)\S?" + re.escape(name) + r"((?:\s+(?:\[[^\]]{1,40}\]|<[^>]{1,40}>))+)",
        description,
    )
    return " ".join(match.group(1).split()) if match else ""


def command_rows(app: App) -> list[dict[str, Any]]:
    """Every command of the loaded plugins, in ``/help`` order (plugins, then handlers)."""
    bus = app.bus
    default = bus.prefixes[0] if bus.prefixes else ""
    rows: list[dict[str, Any]] = []
    for plugin in app.plugins.values():
        name = plugin.plugin_name()
        for handler in bus.handlers("message"):
            info = handler.info
            if handler.plugin != name or info.command is None:
                continue
            rows.append(
                {
                    "name": info.command,
                    "aliases": list(info.aliases),
                    "prefix": info.prefix if info.prefix is not None else default,
                    "plugin": name,
                    "description": info.description,
                    "args": arguments_of(info.command, info.description),
                }
            )
    return rows
