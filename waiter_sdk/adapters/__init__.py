"""Platform adapters. Only the base is imported here: each adapter is imported on demand."""

from .base import Adapter

__all__ = ["Adapter"]
