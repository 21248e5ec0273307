"""``waiter-sdk run --reload``: a plugin whose files change is reloaded in the running app.

Usage::

    reloader = Reloader(app, watch=[Path("example_plugins")])
    await reloader.reload_paths({Path("example_plugins/echo/__init__.py")})  # what a change does
    await reloader.watch()            # runs until cancelled; needs watchfiles

The app, its adapters and the pages connected to them stay up. A plugin is reloaded when a
file under its *home* changes: the folder of a plugin package (``echo/__init__.py`` and its
other modules), or the file of a one-module plugin. Its sessions end first with reason
``"reloaded"`` (their openers raise ``SessionClosedError``), then ``on_unload`` runs, the fresh
modules are imported and the new instances registered and loaded. A plugin that no longer
imports is reported and the old one keeps running, so a typo does not take a game away.

Watching needs ``watchfiles`` (``pip install 'waiter-sdk[reload]'``), an optional extra:
nothing imports it unless ``--reload`` is asked for.
"""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger

from .exceptions import ConfigError, PluginError
from .plugins.base import Plugin
from .plugins.loader import _NAMESPACE, _import_file, _load_plugin_dir, plugins_in_module

if TYPE_CHECKING:
    from .app import App

__all__ = ["EXTRA", "Reloader", "plugin_home", "require_watchfiles"]

EXTRA = "pip install 'waiter-sdk[reload]'"


def require_watchfiles() -> None:
    """Raise ``ConfigError`` naming the extra to install when watchfiles is missing."""
    try:
        import watchfiles  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"--reload watches plugin files with watchfiles, which is not installed: {EXTRA}"
        ) from None


def plugin_home(plugin: Plugin) -> Path | None:
    """The folder (a plugin package) or file (a one-module plugin) that ``plugin`` comes from."""
    module = sys.modules.get(type(plugin).__module__)
    file = getattr(module, "__file__", None)
    if module is None or file is None:
        return None
    path = Path(file).resolve()
    if hasattr(module, "__path__") or path.stem == path.parent.name:
        return path.parent  # <name>/__init__.py, or <name>/<name>.py beside it
    return path


def _python_paths(changed: Iterable[str]) -> set[Path]:
    """The changed paths that can change a plugin: Python files, and folders (a rename)."""
    paths = {Path(path).resolve() for path in changed}
    return {p for p in paths if p.suffix == ".py" or p.is_dir()}


def _inside(path: Path, home: Path) -> bool:
    return path == home or home in path.parents


class Reloader:
    """Reloads the app's plugins whose files change under ``watch``."""

    def __init__(self, app: App, watch: Iterable[Path]) -> None:
        self.app = app
        self.watch_paths = [Path(p).resolve() for p in watch]
        self.reloads = 0  # plugin homes reloaded so far (tests poll it)

    async def watch(self) -> None:
        """Reload on every batch of changes; runs until cancelled."""
        require_watchfiles()
        from watchfiles import awatch

        async for changes in awatch(*self.watch_paths, debounce=200, step=50):
            paths = _python_paths(path for _, path in changes)
            if paths and self.app.state == "running":
                await self.reload_paths(paths)

    async def reload_paths(self, paths: set[Path]) -> list[str]:
        """Reload every plugin whose home holds one of ``paths``; the names reloaded."""
        homes: dict[Path, list[Plugin]] = {}
        for plugin in list(self.app.plugins.values()):
            home = plugin_home(plugin)
            if home is not None and any(_inside(p, home) for p in paths):
                homes.setdefault(home, []).append(plugin)
        names: list[str] = []
        for home, old in homes.items():
            names += await self._reload(home, old)
        return names

    async def _reload(self, home: Path, old: list[Plugin]) -> list[str]:
        app = self.app
        module_names = sorted({type(p).__module__ for p in old})
        try:
            fresh = _reimport(home, module_names)
        except Exception as exc:  # a syntax error mid-edit: keep what runs
            logger.error("reload of {} failed, the old plugin keeps running: {}", home, exc)
            app._report(exc)
            return []
        for plugin in old:
            ended = app.session_registry.end_all(plugin.plugin_name(), "reloaded")
            if ended:
                logger.info("{} sessions of {} ended: reloaded", ended, plugin.plugin_name())
        await asyncio.sleep(0)  # openers see SessionClosedError and say their goodbyes
        for plugin in old:
            try:
                await plugin.on_unload()
            except Exception as exc:
                logger.exception("plugin {} on_unload raised", plugin.plugin_name())
                app._report(exc)
            app._unregister(plugin)
        names: list[str] = []
        for cls in fresh:
            try:
                plugin = cls()
                app._register(plugin)
            except Exception as exc:
                error = exc if isinstance(exc, PluginError) else PluginError(f"{cls}: {exc}")
                app.plugin_errors.append(error)
                logger.error("plugin not reloaded: {}", error)
                continue
            await app._call_on_load(plugin)
            if plugin.plugin_name().lower() in app.plugins:
                names.append(plugin.plugin_name())
        self.reloads += 1
        logger.info("reloaded {} from {}", ", ".join(names) or "nothing", home)
        app._notify_listeners("plugins_changed")
        return names


def _reimport(home: Path, module_names: list[str]) -> list[type[Plugin]]:
    """Import the modules of ``home`` afresh; the plugin classes they define, in order."""
    stale = [
        name
        for name, module in list(sys.modules.items())
        if (file := getattr(module, "__file__", None)) and _inside(Path(file).resolve(), home)
    ]
    saved = {name: sys.modules.pop(name) for name in stale}
    try:
        modules: list[types.ModuleType] = []
        if any(name.startswith(_NAMESPACE + ".") for name in module_names):
            if home.is_dir():
                modules = _load_plugin_dir(home)
            else:
                modules = [_import_file(f"{_NAMESPACE}.{home.stem}", home, None)]
        else:
            import importlib

            modules = [importlib.import_module(name) for name in module_names]
    except BaseException:
        for name in list(sys.modules):
            if name in saved or name.startswith(tuple(n + "." for n in saved)):
                sys.modules.pop(name, None)
        sys.modules.update(saved)  # the old plugin keeps its modules
        raise
    classes: list[type[Plugin]] = []
    for module in modules:
        for cls in plugins_in_module(module):
            if cls not in classes:
                classes.append(cls)
    if not classes:
        sys.modules.update(saved)
        raise PluginError(f"{home} defines no Plugin subclass any more")
    return classes
