"""The ``waiter-sdk`` command.

Usage::

    waiter-sdk run                                   # web sandbox on 127.0.0.1:8080, example plugins
    waiter-sdk run --adapter console --plugins example_plugins
    waiter-sdk run --adapter onebot11 --plugins mybot.plugins
    waiter-sdk check                                 # validate settings and plugins, then exit
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from loguru import logger

from .adapters.base import Adapter
from .config import Settings
from .exceptions import ConfigError, PluginError, WaiterError
from .plugins.base import Plugin

__all__ = ["build_parser", "main", "make_adapter", "setup_logging"]

ADAPTERS = ("sandbox", "console", "onebot11")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="waiter-sdk", description="Run chat-bot plugins built with waiter-sdk."
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="start the bot")
    check = sub.add_parser("check", help="validate settings and load plugins, then exit")
    for p in (run, check):
        p.add_argument(
            "--adapter",
            action="append",
            choices=ADAPTERS,
            help="platform adapter (repeatable; default: sandbox)",
        )
        p.add_argument(
            "--plugins",
            nargs="+",
            metavar="PATH_OR_MODULE",
            help="plugin folders, files or dotted modules (default: example_plugins)",
        )
        p.add_argument("--host", help="sandbox host (overrides WAITER_SANDBOX__HOST)")
        p.add_argument("--port", type=int, help="sandbox port (overrides WAITER_SANDBOX__PORT)")
    return parser


def _default_plugins() -> list[str]:
    here = Path.cwd() / "example_plugins"
    if here.is_dir():
        return [str(here)]
    return ["example_plugins"]


def make_adapter(name: str, settings: Settings) -> Adapter:
    """The adapter called ``name``, imported only when asked for."""
    if name == "console":
        from .adapters.console import ConsoleAdapter

        return ConsoleAdapter()
    if name == "sandbox":
        from .adapters.sandbox import SandboxAdapter, SandboxSettings

        return SandboxAdapter(settings.section("sandbox", SandboxSettings))
    if name == "onebot11":
        from .adapters.onebot11 import OneBot11Adapter, OneBot11Settings

        return OneBot11Adapter(settings.section("onebot11", OneBot11Settings))
    raise ConfigError(f"unknown adapter {name!r}; choose one of {', '.join(ADAPTERS)}")


def setup_logging(level: str) -> None:
    logger.remove()
    logger.add(
        sys.stderr,
        level=level,
        format="<green>{time:HH:mm:ss}</green> <level>{level: <7}</level> {message}",
    )
    logger.enable("waiter_sdk")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["run", *(argv or [])])
    try:
        overrides: dict[str, object] = {}
        sandbox: dict[str, object] = {}
        if args.host:
            sandbox["host"] = args.host
        if args.port is not None:
            sandbox["port"] = args.port
        settings = Settings.load()
        if sandbox:
            from .adapters.sandbox import SandboxSettings

            current = settings.section("sandbox", SandboxSettings)
            settings = Settings.load(
                sandbox=current.model_copy(update=sandbox).model_dump(), **overrides
            )
        setup_logging(settings.log_level)
        names = args.adapter or ["sandbox"]
        adapters = [make_adapter(name, settings) for name in names]
        specs = args.plugins if args.plugins is not None else _default_plugins()
        from .app import App

        if args.command == "check":
            return _check(App(settings=settings, plugins=specs, adapters=adapters))
        app = App(settings=settings, plugins=_load_each(specs), adapters=adapters)
        app.run()
    except WaiterError as exc:
        print(f"waiter-sdk: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def _load_each(specs: Sequence[str]) -> list[Plugin]:
    """The plugins of every ``--plugins`` spec; one that loads none stops the start.

    A bot started with a mistyped path would otherwise run with ``/help`` alone and exit 0
    when stopped. A spec that loads some plugins and fails on others starts, with the failures
    logged (``waiter-sdk check`` lists them).
    """
    from .plugins.loader import resolve_plugins

    plugins: list[Plugin] = []
    for spec in specs:
        resolved = resolve_plugins([spec])
        if not resolved.plugins:
            why = "; ".join(str(e) for e in resolved.errors) or "it holds no Plugin subclass"
            raise PluginError(f"--plugins {spec} loaded no plugin: {why}")
        for error in resolved.errors:
            logger.error("plugin not loaded: {}", error)
        plugins.extend(resolved.plugins)
    return plugins


def _check(app: object) -> int:
    import asyncio

    from .app import App

    assert isinstance(app, App)
    app.adapters = []

    async def load() -> int:
        async with app:
            for plugin in app.plugins.values():
                print(f"ok  {plugin.plugin_name()}")
            for error in app.plugin_errors:
                print(f"ERR {error}")
            return 1 if app.plugin_errors else 0

    return asyncio.run(load())
