"""The package's public face: light import, curated __all__, typed."""

from __future__ import annotations

import importlib
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


def test_all_is_sorted_and_complete_in_every_public_module() -> None:
    for info in pkgutil.walk_packages(waiter_sdk.__path__, "waiter_sdk."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        if ".adapters." in info.name and info.name.count(".") > 2:
            continue  # adapter internals are private to their package
        module = importlib.import_module(info.name)
        exported = getattr(module, "__all__", None)
        assert exported is not None, f"{info.name} lacks __all__"
        assert list(exported) == sorted(exported, key=_isort_key), f"{info.name}: unsorted __all__"
        for name in exported:
            assert hasattr(module, name), f"{info.name}.__all__ names missing {name}"


def test_import_is_light() -> None:
    code = (
        "import sys, waiter_sdk\n"
        "heavy = [m for m in sys.modules\n"
        "         if m.startswith(('aiohttp', 'waiter_sdk.adapters.', 'pydantic'))\n"
        "         and m not in ('waiter_sdk.adapters.base',)]\n"
        "print(','.join(sorted(heavy)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_package_is_typed() -> None:
    assert (Path(waiter_sdk.__file__).parent / "py.typed").is_file()


def test_timeout_errors_are_builtin_timeouts() -> None:
    assert issubclass(waiter_sdk.SessionTimeoutError, TimeoutError)
    assert issubclass(waiter_sdk.AdapterConnectionError, ConnectionError)
    assert issubclass(waiter_sdk.SessionTimeoutError, waiter_sdk.WaiterError)
