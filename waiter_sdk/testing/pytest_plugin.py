"""pytest plugin (registered by the package's ``pytest11`` entry point).

Usage::

    async def test_parrot(simulator) -> None:
        sim = await simulator(plugins=[Parrot])
        out = await sim.send(sim.user("alice"), "/parrot")

Every simulator the factory made is stopped when the test ends. Needs pytest-asyncio.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from .simulator import Simulator

__all__ = ["simulator"]

SimulatorFactory = Callable[..., Awaitable[Simulator]]

if importlib.util.find_spec("pytest_asyncio") is not None:
    import pytest_asyncio

    @pytest_asyncio.fixture
    async def simulator() -> AsyncIterator[SimulatorFactory]:
        """A factory: ``await simulator(plugins=[...], settings=None)`` gives a started Simulator."""
        made: list[Simulator] = []

        async def make(*args: Any, **kwargs: Any) -> Simulator:
            sim = Simulator(*args, **kwargs)
            await sim.start()
            made.append(sim)
            return sim

        yield make
        for sim in reversed(made):
            await sim.stop()
