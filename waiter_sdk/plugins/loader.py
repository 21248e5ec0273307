"""Finding plugins: from instances, classes, dotted module paths and plugin folders.

Usage: ``resolve_plugins(["example_plugins", "mybot.plugins:Weather", Greeter, Greeter()])``.

A folder holds one plugin per sub-folder, ``<name>/<name>.py`` or a package
``<name>/__init__.py``; each is imported as ``waiter_plugins.<name>`` so relative imports inside
a plugin work. One broken plugin is reported and the others still load.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..exceptions import PluginError
from .base import Plugin

__all__ = ["PluginSpec", "Resolved", "plugins_in_module", "resolve_plugins"]

PluginSpec = Plugin | type[Plugin] | str | Path | types.ModuleType
_NAMESPACE = "waiter_plugins"


@dataclass
class Resolved:
    """What a list of specs resolved to: plugin instances in order, and the errors met."""

    plugins: list[Plugin] = field(default_factory=list)
    errors: list[PluginError] = field(default_factory=list)


def plugins_in_module(module: types.ModuleType) -> list[type[Plugin]]:
    """``Plugin`` subclasses defined in ``module`` itself (not merely imported there)."""
    found = []
    for value in vars(module).values():
        if (
            inspect.isclass(value)
            and issubclass(value, Plugin)
            and value is not Plugin
            and value.__module__ == module.__name__
            and not inspect.isabstract(value)
        ):
            found.append(value)
    return found


def _instantiate(cls: type[Plugin], origin: str) -> Plugin:
    try:
        return cls()
    except Exception as exc:
        raise PluginError(
            f"plugin class {cls.__qualname__} from {origin} failed to start: {exc}"
        ) from exc


def _namespace() -> types.ModuleType:
    ns = sys.modules.get(_NAMESPACE)
    if ns is None:
        ns = types.ModuleType(_NAMESPACE)
        ns.__path__ = []
        sys.modules[_NAMESPACE] = ns
    return ns


def _import_file(name: str, path: Path, package_dir: Path | None) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(
        name,
        path,
        submodule_search_locations=[str(package_dir)] if package_dir is not None else None,
    )
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot import plugin file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except PluginError as exc:
        del sys.modules[name]
        raise PluginError(f"plugin {path} is broken: {exc}") from exc
    except Exception as exc:
        del sys.modules[name]
        raise PluginError(f"plugin {path} failed to import: {type(exc).__name__}: {exc}") from exc
    return module


def _load_plugin_dir(folder: Path) -> list[types.ModuleType]:
    """Import one plugin folder: ``<name>/__init__.py`` and/or ``<name>/<name>.py``."""
    _namespace()
    name = folder.name
    package_name = f"{_NAMESPACE}.{name}"
    init = folder / "__init__.py"
    main = folder / f"{name}.py"
    modules = []
    if init.is_file():
        package = _import_file(package_name, init, folder)
    else:
        package = sys.modules.get(package_name) or types.ModuleType(package_name)
        package.__path__ = [str(folder)]
        sys.modules[package_name] = package
    modules.append(package)
    if main.is_file():
        modules.append(_import_file(f"{package_name}.{name}", main, None))
    return modules


def _is_plugin_dir(path: Path) -> bool:
    return path.is_dir() and (
        (path / "__init__.py").is_file() or (path / f"{path.name}.py").is_file()
    )


def _from_folder(folder: Path, out: Resolved) -> None:
    if not folder.exists():
        out.errors.append(PluginError(f"plugin folder {folder} does not exist"))
        return
    if folder.is_file():
        try:
            module = _import_file(f"{_NAMESPACE}.{folder.stem}", folder, None)
        except PluginError as exc:
            out.errors.append(exc)
            return
        _from_module(module, str(folder), out)
        return
    children = sorted(
        p for p in folder.iterdir() if not p.name.startswith(("_", ".")) and _is_plugin_dir(p)
    )
    if not children:
        out.errors.append(
            PluginError(
                f"plugin folder {folder} has no plugins (expected <name>/<name>.py or "
                "<name>/__init__.py inside it)"
            )
        )
        return
    for child in children:
        try:
            modules = _load_plugin_dir(child)
        except PluginError as exc:
            out.errors.append(exc)
            continue
        before = len(out.plugins)
        for module in modules:
            _from_module(module, str(child), out, quiet=True)
        if len(out.plugins) == before:
            out.errors.append(PluginError(f"plugin folder {child} defines no Plugin subclass"))


def _from_module(
    module: types.ModuleType, origin: str, out: Resolved, *, quiet: bool = False
) -> None:
    classes = plugins_in_module(module)
    if not classes and not quiet:
        out.errors.append(PluginError(f"module {origin} defines no Plugin subclass"))
    for cls in classes:
        try:
            out.plugins.append(_instantiate(cls, origin))
        except PluginError as exc:
            out.errors.append(exc)


def _from_dotted(spec: str, out: Resolved) -> None:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        out.errors.append(
            PluginError(
                f"plugin module {module_name!r} failed to import: {type(exc).__name__}: {exc}"
            )
        )
        return
    if not attr:
        if hasattr(module, "__path__") and not plugins_in_module(module):
            # A package of plugins (like example_plugins): load its plugin sub-folders.
            _from_package(module, out)
            return
        _from_module(module, spec, out)
        return
    value = getattr(module, attr, None)
    if not (inspect.isclass(value) and issubclass(value, Plugin)):
        out.errors.append(PluginError(f"{spec!r} is not a Plugin subclass"))
        return
    try:
        out.plugins.append(_instantiate(value, spec))
    except PluginError as exc:
        out.errors.append(exc)


def _from_package(package: types.ModuleType, out: Resolved) -> None:
    import pkgutil

    found = False
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        sub = f"{package.__name__}.{info.name}"
        try:
            module = importlib.import_module(sub)
        except Exception as exc:
            out.errors.append(
                PluginError(f"plugin module {sub!r} failed to import: {type(exc).__name__}: {exc}")
            )
            continue
        modules = [module]
        inner = f"{sub}.{info.name}"
        if info.ispkg and importlib.util.find_spec(inner) is not None:
            try:
                modules.append(importlib.import_module(inner))
            except Exception as exc:
                out.errors.append(
                    PluginError(
                        f"plugin module {inner!r} failed to import: {type(exc).__name__}: {exc}"
                    )
                )
                continue
        for mod in modules:
            before = len(out.plugins)
            _from_module(mod, sub, out, quiet=True)
            found = found or len(out.plugins) > before
    if not found:
        out.errors.append(PluginError(f"package {package.__name__!r} holds no plugins"))


def resolve_plugins(specs: Iterable[PluginSpec]) -> Resolved:
    """Turn every spec into plugin instances; errors are collected, not raised."""
    out = Resolved()
    for spec in specs:
        if isinstance(spec, Plugin):
            out.plugins.append(spec)
        elif inspect.isclass(spec) and issubclass(spec, Plugin):
            try:
                out.plugins.append(_instantiate(spec, spec.__module__))
            except PluginError as exc:
                out.errors.append(exc)
        elif isinstance(spec, types.ModuleType):
            _from_module(spec, spec.__name__, out)
        elif isinstance(spec, Path) or (
            isinstance(spec, str) and ("/" in spec or "\\" in spec or Path(spec).exists())
        ):
            _from_folder(Path(spec), out)
        elif isinstance(spec, str):
            _from_dotted(spec, out)
        else:
            out.errors.append(
                PluginError(f"cannot load a plugin from {type(spec).__name__} {spec!r}")
            )
    return out
