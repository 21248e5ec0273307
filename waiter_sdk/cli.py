"""The ``waiter-sdk`` command.

Usage::

    waiter-sdk run                                   # web sandbox on 127.0.0.1:8080, example plugins
    waiter-sdk run --adapter console --plugins example_plugins
    waiter-sdk run --reload                          # reload a plugin when its files change
    waiter-sdk run --adapter onebot11 --plugins mybot.plugins
    waiter-sdk run --workers 3 --adapter onebot11 --plugins mybot.plugins   # one ingress, 3 workers
    waiter-sdk ingress --adapter onebot11            # a cluster's platform side (one per cluster)
    waiter-sdk worker --plugins mybot.plugins        # a cluster's worker (any number, any host)
    waiter-sdk check                                 # validate settings and plugins, then exit
    waiter-sdk storage fields quiz                   # what WAITER_STORAGE holds for a plugin
    waiter-sdk storage rename quiz user wins victories
    waiter-sdk storage drop quiz user wins --yes
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from loguru import logger

from .adapters.base import Adapter
from .config import Settings
from .exceptions import ConfigError, PluginError, WaiterError
from .plugins.base import Plugin

__all__ = [
    "build_parser",
    "cluster_storage",
    "main",
    "make_adapter",
    "serve_reloading",
    "setup_logging",
    "watched_paths",
]

ADAPTERS = ("sandbox", "console", "onebot11", "satori", "matrix")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="waiter-sdk", description="Run chat-bot plugins built with waiter-sdk."
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="start the bot")
    check = sub.add_parser("check", help="validate settings and load plugins, then exit")
    ingress = sub.add_parser(
        "ingress", help="run a cluster's ingress: the adapters, no plugins (WAITER_CLUSTER__REDIS)"
    )
    worker = sub.add_parser(
        "worker", help="run a cluster's worker: the plugins, no adapter (WAITER_CLUSTER__REDIS)"
    )
    for p in (run, check, ingress):
        p.add_argument(
            "--adapter",
            action="append",
            choices=ADAPTERS,
            help="platform adapter (repeatable; default: sandbox)",
        )
        p.add_argument("--host", help="sandbox host (overrides WAITER_SANDBOX__HOST)")
        p.add_argument("--port", type=int, help="sandbox port (overrides WAITER_SANDBOX__PORT)")
    for p in (run, check, worker):
        p.add_argument(
            "--plugins",
            nargs="+",
            metavar="PATH_OR_MODULE",
            help="plugin folders, files or dotted modules (default: example_plugins)",
        )
    run.add_argument(
        "--workers",
        type=_workers,
        default=0,
        metavar="N",
        help="run one ingress and N worker processes on one Redis (WAITER_CLUSTER__REDIS); "
        "0 (the default): one process, no Redis",
    )
    run.add_argument(
        "--reload",
        action="store_true",
        help="reload a plugin when one of its files changes (needs watchfiles: "
        "pip install 'waiter-sdk[reload]')",
    )
    storage = sub.add_parser(
        "storage", help="list, rename or drop a plugin's stored fields (on WAITER_STORAGE)"
    )
    verbs = storage.add_subparsers(dest="verb", required=True)
    fields = verbs.add_parser("fields", help="the fields the database holds for a plugin")
    fields.add_argument("plugin")
    rename = verbs.add_parser("rename", help="rename a field in every record, keeping its data")
    drop = verbs.add_parser("drop", help="delete a field and its data from every record")
    for p in (rename, drop):
        p.add_argument("plugin")
        p.add_argument("scope", choices=("user", "channel"))
        p.add_argument("field")
    rename.add_argument("new_name")
    drop.add_argument("--yes", action="store_true", help="really delete (nothing is undone)")
    return parser


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--workers takes a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"--workers must be 0 or more, not {value}")
    return value


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
    if name == "satori":
        from .adapters.satori import SatoriAdapter, SatoriSettings

        return SatoriAdapter(settings.section("satori", SatoriSettings))
    if name == "matrix":
        from .adapters.matrix import MatrixAdapter, MatrixSettings

        return MatrixAdapter(settings.section("matrix", MatrixSettings))
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
    if args.command == "storage":
        return _storage(args)
    try:
        overrides: dict[str, object] = {}
        sandbox: dict[str, object] = {}
        if getattr(args, "host", None):
            sandbox["host"] = args.host
        if getattr(args, "port", None) is not None:
            sandbox["port"] = args.port
        settings = Settings.load()
        if sandbox:
            from .adapters.sandbox import SandboxSettings

            current = settings.section("sandbox", SandboxSettings)
            settings = Settings.load(
                sandbox=current.model_copy(update=sandbox).model_dump(), **overrides
            )
        setup_logging(settings.log_level)
        if args.command == "worker":
            return _worker(settings, args)
        names = args.adapter or ["sandbox"]
        reload = args.command == "run" and args.reload
        if reload and args.workers:
            raise ConfigError(
                "--reload works in one process; it cannot be combined with --workers "
                f"{args.workers} (restart the workers to load changed plugins)"
            )
        if reload:
            from .reload import require_watchfiles

            require_watchfiles()
        if args.command == "run" and args.workers:
            return _supervise(args, names)
        adapters = [make_adapter(name, settings) for name in names]
        if args.command == "ingress":
            return _ingress(settings, adapters)
        specs = args.plugins if args.plugins is not None else _default_plugins()
        from .app import App

        if args.command == "check":
            return _check(App(settings=settings, plugins=specs, adapters=adapters))
        app = App(settings=settings, plugins=_load_each(specs), adapters=adapters)
        if reload:
            _run_blocking(settings, serve_reloading(app, specs))
        else:
            app.run()
    except WaiterError as exc:
        print(f"waiter-sdk: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def watched_paths(specs: Sequence[str]) -> list[Path]:
    """The files and folders that hold the plugins of ``specs`` (folders, files, modules)."""
    import importlib.util

    paths: list[Path] = []
    for spec in specs:
        path = Path(spec)
        if not path.exists():
            found = importlib.util.find_spec(spec.partition(":")[0])
            origin = found.origin if found is not None else None
            if origin is None:
                continue
            path = Path(origin)
            if found is not None and found.submodule_search_locations:
                path = path.parent  # a package: watch all of it
        paths.append(path.resolve())
    if not paths:
        raise ConfigError(f"--reload found no plugin file to watch in {' '.join(specs)}")
    return paths


async def serve_reloading(app: Any, specs: Sequence[str]) -> None:
    """``App.serve()`` with a ``Reloader`` watching the plugins' files beside it."""
    import asyncio
    import contextlib

    from .reload import Reloader

    reloader = Reloader(app, watched_paths(specs))
    watcher = asyncio.create_task(reloader.watch(), name="waiter-sdk-reload")
    logger.info("reloading plugins on change under {}", ", ".join(map(str, reloader.watch_paths)))
    try:
        await app.serve()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


def _require_redis(what: str) -> None:
    """A clear stop, before any cluster module is imported, when redis-py is missing."""
    try:
        import redis  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"{what} needs redis-py, which is not installed: pip install 'waiter-sdk[redis]'"
        ) from None


def _run_blocking(settings: Settings, main: Coroutine[Any, Any, Any]) -> Any:
    # The loop App.run() would choose (uvloop when installed, unless WAITER_LOOP says not).
    import asyncio

    from ._loops import choose_loop

    choice = choose_loop(settings.loop)
    logger.info("event loop: {}", choice.name)
    with asyncio.Runner(loop_factory=choice.factory) as runner:
        return runner.run(main)


def _ingress(settings: Settings, adapters: list[Adapter]) -> int:
    """``waiter-sdk ingress``: the adapters, forwarding to the workers through Redis."""
    _require_redis("waiter-sdk ingress")
    from .cluster.ingress import run_ingress

    _run_blocking(settings, run_ingress(settings, adapters))
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    """``waiter-sdk worker``: the plugins, fed by the ingress through Redis."""
    _require_redis("waiter-sdk worker")
    from .cluster.worker import run_worker

    specs = args.plugins if args.plugins is not None else _default_plugins()
    _run_blocking(settings, run_worker(cluster_storage(settings), _load_each(specs)))
    return 0


def cluster_storage(settings: Settings) -> Settings:
    """A worker's settings: stored data on the cluster's Redis unless WAITER_STORAGE says
    otherwise, since the workers of one bot must share it."""
    if "storage" not in settings.model_fields_set:
        return settings.model_copy(update={"storage": settings.cluster.redis})
    if settings.storage.startswith("sqlite"):
        logger.warning(
            "WAITER_STORAGE={} with several workers: fine on one host (they share the file), "
            "wrong across hosts (each would have its own data); use a redis:// address",
            settings.storage,
        )
    return settings


def _supervise(args: argparse.Namespace, adapters: list[str]) -> int:
    """``waiter-sdk run --workers N``: one ingress and N workers as child processes."""
    _require_redis(f"waiter-sdk run --workers {args.workers}")
    import asyncio

    from .cluster.supervisor import Supervisor

    ingress_args = [arg for name in adapters for arg in ("--adapter", name)]
    if args.host:
        ingress_args += ["--host", args.host]
    if args.port is not None:
        ingress_args += ["--port", str(args.port)]
    worker_args = ["--plugins", *args.plugins] if args.plugins is not None else []
    supervisor = Supervisor(args.workers, ingress_args=ingress_args, worker_args=worker_args)
    return asyncio.run(supervisor.run())


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


def _storage(args: argparse.Namespace) -> int:
    """``waiter-sdk storage``: the schema changes a SchemaError asks for, done on purpose."""
    import asyncio

    from .storage.store import Storage

    async def run(storage: Storage) -> int:
        try:
            if args.verb == "fields":
                found = False
                for scope in ("user", "channel"):
                    for name, kind in sorted((await storage.fields(args.plugin, scope)).items()):
                        print(f"{scope:8} {name:24} {kind}")
                        found = True
                if not found:
                    print(f"no fields recorded for plugin {args.plugin} in {storage.describe}")
                return 0
            recorded = await storage.fields(args.plugin, args.scope)
            if args.field not in recorded:
                print(
                    f"waiter-sdk: plugin {args.plugin} has no {args.scope} field {args.field!r} "
                    f"in {storage.describe} (it has: {', '.join(sorted(recorded)) or 'none'})",
                    file=sys.stderr,
                )
                return 2
            if args.verb == "rename":
                if args.new_name in recorded:
                    print(
                        f"waiter-sdk: {args.new_name!r} is already a {args.scope} field of "
                        f"{args.plugin}; drop one of them first",
                        file=sys.stderr,
                    )
                    return 2
                held = await storage.rename_field(
                    args.plugin, args.scope, args.field, args.new_name
                )
                print(f"renamed {args.field} to {args.new_name} in {held} records")
                return 0
            if not args.yes:
                print(
                    f"this deletes the {args.scope} field {args.field!r} of plugin {args.plugin} "
                    f"from every record in {storage.describe}; run again with --yes",
                    file=sys.stderr,
                )
                return 1
            held = await storage.drop_field(args.plugin, args.scope, args.field)
            print(f"dropped {args.field} from {held} records")
            return 0
        finally:
            await storage.close()

    try:
        settings = Settings.load()
        setup_logging(settings.log_level)
        storage = Storage(settings.storage, settings.data_dir, settings.storage_timeout)
        return asyncio.run(run(storage))
    except WaiterError as exc:
        print(f"waiter-sdk: {exc}", file=sys.stderr)
        return 2
