"""Platform adapters. Only the base is imported here: each adapter is imported on demand.

``SETTINGS`` names the settings section of each built-in adapter and where its model lives (a
module that imports pydantic only); ``waiter_sdk.config`` registers them. An adapter of your own
calls ``waiter_sdk.config.register_settings`` instead.
"""

from .base import Adapter

__all__ = ["SETTINGS", "Adapter"]

SETTINGS: dict[str, str] = {
    "console": "waiter_sdk.adapters.console_settings:ConsoleSettings",
    "matrix": "waiter_sdk.adapters.matrix.settings:MatrixSettings",
    "onebot11": "waiter_sdk.adapters.onebot11.settings:OneBot11Settings",
    "sandbox": "waiter_sdk.adapters.sandbox.settings:SandboxSettings",
    "satori": "waiter_sdk.adapters.satori.settings:SatoriSettings",
}
