"""The test kit: run plugins against a fake platform in virtual time.

Usage: ``async with Simulator(plugins=[MyPlugin]) as sim: out = await sim.send(alice, "/hi")``.
"""

from .clock import ORIGIN, NotIdleError, VirtualClock
from .simulator import EPOCH, Outgoing, Simulator, SimulatorAdapter, SimUser

__all__ = [
    "EPOCH",
    "ORIGIN",
    "NotIdleError",
    "Outgoing",
    "SimUser",
    "Simulator",
    "SimulatorAdapter",
    "VirtualClock",
]
