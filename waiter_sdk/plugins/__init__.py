"""Plugins: the base class, the handler decorators and the loader."""

from .base import HandlerInfo, Plugin, command, on_message, on_notice, on_request, regex
from .loader import PluginSpec, resolve_plugins

__all__ = [
    "HandlerInfo",
    "Plugin",
    "PluginSpec",
    "command",
    "on_message",
    "on_notice",
    "on_request",
    "regex",
    "resolve_plugins",
]
