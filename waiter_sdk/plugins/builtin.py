"""The built-in plugin: ``/help``. Loaded first, so no plugin can take its commands."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..events import MessageEvent, MessageEventResult
from .base import Plugin, command

__all__ = ["Builtin"]


class Builtin(Plugin):
    name = "builtin"
    description = "Commands every bot has"

    @command("help", aliases=["帮助"], description="List plugins and their commands")
    async def help(self, event: MessageEvent) -> AsyncIterator[MessageEventResult]:
        """List plugins and their commands."""
        yield event.plain_result(self.render_help(event.args[0] if event.args else None))

    def render_help(self, only: str | None = None) -> str:
        bus = self.app.bus
        prefix = bus.prefixes[0] if bus.prefixes else ""
        lines: list[str] = []
        for key, plugin in self.app.plugins.items():
            if only is not None and key != only.lower():
                continue
            header = plugin.plugin_name()
            if plugin.description:
                header += f": {plugin.description}"
            lines.append(header)
            for handler in bus.handlers("message"):
                info = handler.info
                if handler.plugin != plugin.plugin_name() or info.command is None:
                    continue
                shown = (info.prefix if info.prefix is not None else prefix) + info.command
                if info.aliases:
                    shown += " (" + ", ".join(info.aliases) + ")"
                lines.append(f"  {shown}" + (f" - {info.description}" if info.description else ""))
        if not lines:
            return f"No plugin named {only!r}." if only else "No plugins loaded."
        return "\n".join(lines)
