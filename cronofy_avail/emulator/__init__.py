"""A local, faithful Cronofy emulator (``docs/api-contract.md``, ``docs/reference/emulator.md``).

>>> async with Emulator() as emu:               # doctest: +SKIP
...     account = await emu.create_account()
...     async with emu.client(account) as client:
...         profiles = await client.list_profiles()

Layers: :mod:`.state`, :mod:`.availability`, :mod:`.validation` and :mod:`.faults` are pure (no
aiohttp); :mod:`.app` and :mod:`.control` are thin aiohttp handlers; :mod:`.notifications`
delivers push notifications; :class:`Emulator` serves it all with ``AppRunner``/``TCPSite``.
The public names load lazily, so importing a pure module never imports aiohttp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cronofy_avail.emulator.app import create_app
    from cronofy_avail.emulator.config import EmulatorConfig
    from cronofy_avail.emulator.control_client import EmulatorControl
    from cronofy_avail.emulator.server import Emulator
    from cronofy_avail.emulator.state import EmulatorAccount, EmulatorState

__all__ = [
    "Emulator",
    "EmulatorAccount",
    "EmulatorConfig",
    "EmulatorControl",
    "EmulatorState",
    "create_app",
]

_WHERE = {
    "Emulator": "server",
    "EmulatorAccount": "state",
    "EmulatorConfig": "config",
    "EmulatorControl": "control_client",
    "EmulatorState": "state",
    "create_app": "app",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
