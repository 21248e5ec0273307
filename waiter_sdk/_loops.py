"""Which event loop ``App.run()`` starts: the ``loop`` setting (``WAITER_LOOP``).

Usage::

    choice = choose_loop(settings.loop)        # LoopChoice(name="uvloop", factory=...)
    with asyncio.Runner(loop_factory=choice.factory) as runner:
        runner.run(main())

``"auto"`` (the default) takes uvloop when it can be imported (``pip install
'waiter-sdk[speed]'``) and the stock asyncio loop otherwise; ``"asyncio"`` always takes the
stock loop; ``"uvloop"`` insists on uvloop and fails with a ``ConfigError`` when it is missing,
because a bot that was asked for uvloop and quietly runs without it is a surprise found late.
Only ``run()`` consults the setting: an app started with ``await app.start()`` runs on whatever
loop its caller made (the test kit's virtual clock needs the stock one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal, NamedTuple

from .exceptions import ConfigError

__all__ = ["LoopChoice", "LoopSetting", "choose_loop"]

LoopSetting = Literal["auto", "asyncio", "uvloop"]


class LoopChoice(NamedTuple):
    """The loop to run on: its name, and the factory for ``asyncio.Runner`` (None: stock)."""

    name: Literal["asyncio", "uvloop"]
    factory: Callable[[], asyncio.AbstractEventLoop] | None


def choose_loop(setting: str = "auto") -> LoopChoice:
    """The loop that ``setting`` asks for; ``ConfigError`` if it asks for a missing uvloop."""
    if setting == "asyncio":
        return LoopChoice("asyncio", None)
    if setting not in ("auto", "uvloop"):
        raise ConfigError(
            f"setting 'loop' (WAITER_LOOP) is {setting!r}: choose 'auto', 'asyncio' or 'uvloop'"
        )
    try:
        import uvloop
    except ImportError:
        if setting == "uvloop":
            raise ConfigError(
                "setting 'loop' (WAITER_LOOP) is 'uvloop' but uvloop is not installed: "
                "pip install 'waiter-sdk[speed]', or set WAITER_LOOP=auto"
            ) from None
        return LoopChoice("asyncio", None)
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return LoopChoice("uvloop", factory)
