"""A spec-faithful fake OneBot v11 implementation, for tests only."""

from .impl import Call, FakeState, Sent
from .transports import Conn, FakeOneBot

__all__ = ["Call", "Conn", "FakeOneBot", "FakeState", "Sent"]
