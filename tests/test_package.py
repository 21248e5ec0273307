"""The package's public face: light import, curated __all__, typed."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import waiter_sdk

CONTRACT = [
    "App",
    "Plugin",
    "command",
    "on_message",
    "regex",
    "on_notice",
    "on_request",
    "Event",
    "MessageEvent",
    "NoticeEvent",
    "RequestEvent",
    "MetaEvent",
    "MessageEventResult",
    "MessageChain",
    "Plain",
    "At",
    "AtAll",
    "Image",
    "Reply",
    "Face",
    "session_waiter",
    "SessionController",
    "SessionFilter",
    "SenderSessionFilter",
    "GroupSessionFilter",
    "UserSessionFilter",
    "ReplySessionFilter",
    "start_session",
    "WaiterError",
    "SessionTimeoutError",
    "SessionBusyError",
    "SessionClosedError",
]


def _isort_key(name: str) -> tuple[int, str]:
    # The order ruff's RUF022 keeps: CONSTANTS, then Classes, then functions.
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return (kind, name)


def test_contract_names_are_exported() -> None:
    missing = [name for name in CONTRACT if name not in waiter_sdk.__all__]
    assert missing == []
    for name in CONTRACT:
        assert getattr(waiter_sdk, name) is not None


def _public_modules() -> list[str]:
    # Internal modules are named as internal (a part starting with "_"); every other module
    # is public, adapter packages' modules included.
    names = [info.name for info in pkgutil.walk_packages(waiter_sdk.__path__, "waiter_sdk.")]
    return [n for n in names if not any(part.startswith("_") for part in n.split("."))]


def test_all_is_sorted_and_complete_in_every_public_module() -> None:
    # Both ways, as anyio's test_all_attributes: every name listed exists, and every public
    # class or function a public module defines is listed.
    for name in _public_modules():
        module = importlib.import_module(name)
        exported = getattr(module, "__all__", None)
        assert exported is not None, f"{name} lacks __all__"
        assert list(exported) == sorted(exported, key=_isort_key), f"{name}: unsorted __all__"
        for listed in exported:
            assert hasattr(module, listed), f"{name}.__all__ names missing {listed}"
        for attr, value in vars(module).items():
            if attr.startswith("_") or not (inspect.isclass(value) or inspect.isfunction(value)):
                continue
            if getattr(value, "__module__", None) == name:
                assert attr in exported, f"{name} defines public {attr} outside __all__"


def test_the_facade_exports_nothing_private_and_everything_it_lists() -> None:
    public = {n for n in vars(waiter_sdk) if not n.startswith("_")}
    modules = {n for n in public if inspect.ismodule(getattr(waiter_sdk, n))}
    assert public - modules - {"logger"} <= set(waiter_sdk.__all__) | {"annotations"}
    assert set(waiter_sdk.__all__) <= public


def test_session_modules_reach_only_documented_privates_of_each_other() -> None:
    # Issue 12.4: a session module may use another's underscore names only where _seams.py
    # lists them (Registered, Fronted); within a module, anything goes.
    root = Path(waiter_sdk.__file__).parent / "session"
    seams = ast.parse((root / "_seams.py").read_text(encoding="utf-8"))
    documented = {
        f.name
        for c in seams.body
        if isinstance(c, ast.ClassDef)
        for f in c.body
        if isinstance(f, ast.FunctionDef) and f.name.startswith("_") and not f.name.startswith("__")
    }
    assert documented  # the seams do list some
    stray: list[str] = []
    for path in sorted(root.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        own = _names_defined_in(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and node.attr.startswith("_")):
                continue
            if node.attr.startswith("__") or node.attr in own or node.attr in documented:
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            stray.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert stray == []


def _names_defined_in(tree: ast.Module) -> set[str]:
    own: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            own.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            if isinstance(node.value, ast.Name) and node.value.id == "self":
                own.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            own.add(node.value)  # slot names
    return own


def test_import_is_light() -> None:
    code = (
        "import sys, waiter_sdk\n"
        "heavy = [m for m in sys.modules\n"
        "         if m.startswith(('aiohttp', 'waiter_sdk.adapters.', 'pydantic',\n"
        "                          'waiter_sdk.storage', 'waiter_sdk.cluster', 'sqlite3',\n"
        "                          '_sqlite3', 'redis'))\n"
        "         and m not in ('waiter_sdk.adapters.base',)]\n"
        "print(','.join(sorted(heavy)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_every_adapters_settings_load_without_importing_aiohttp() -> None:
    # Settings know every adapter's section (adapters.SETTINGS) without importing the adapters:
    # a bot on one platform pays nothing for the others. One process reads them all.
    code = (
        "import importlib, sys, waiter_sdk.config as c\n"
        "from waiter_sdk.adapters import SETTINGS\n"
        "c.Settings.load()\n"
        "for where in SETTINGS.values():\n"
        "    module, name = where.split(':')\n"
        "    getattr(importlib.import_module(module), name)\n"
        "print(sorted(m for m in sys.modules if m.startswith('aiohttp')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_package_is_typed() -> None:
    assert (Path(waiter_sdk.__file__).parent / "py.typed").is_file()


def test_timeout_errors_are_builtin_timeouts() -> None:
    assert issubclass(waiter_sdk.SessionTimeoutError, TimeoutError)
    assert issubclass(waiter_sdk.AdapterConnectionError, ConnectionError)
    assert issubclass(waiter_sdk.SessionTimeoutError, waiter_sdk.WaiterError)
