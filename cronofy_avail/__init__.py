"""cronofy_avail: control Cronofy Available Periods with a sub calendar.

What a notebook user types most is importable from here, loaded on first use, so that
``import cronofy_avail`` stays light (no aiohttp until a name that needs it is touched)::

    from cronofy_avail import Playground, create_sub_calendar, query_availability

The layers (each imports only those below it; ``lint-imports`` checks it in ``make test``):
``core`` (pure) → ``client`` (aiohttp) → ``runtime`` (stores, sync, coordinator, the four steps)
→ the edges (``emulator``, ``webhook_server``) → ``playground`` → the apps (``cli``, ``notebook``).
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from cronofy_avail._version import __version__

# A library logs, the application shows: without this, warnings of background work (a retry,
# a refused delivery) reach Python's last-resort handler, sys.stderr, which in a Jupyter
# kernel prints them into the output of the cell that started that work, whichever cell runs.
# The commands, the wizard (its feed) and any application that configures logging show them.
logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from cronofy_avail.client.api import CronofyClient
    from cronofy_avail.core.signatures import sign, verify, verify_notification
    from cronofy_avail.emulator.server import Emulator
    from cronofy_avail.notebook.widgets import Wizard
    from cronofy_avail.playground import Playground
    from cronofy_avail.runtime.coordinator import SyncCoordinator
    from cronofy_avail.runtime.steps import (
        create_channel,
        create_sub_calendar,
        onboard_user,
        query_availability,
    )
    from cronofy_avail.runtime.store import MemoryStore, SQLiteStore
    from cronofy_avail.runtime.sync import SyncEngine

_WHERE = {
    "CronofyClient": "cronofy_avail.client.api",
    "sign": "cronofy_avail.core.signatures",
    "verify": "cronofy_avail.core.signatures",
    "verify_notification": "cronofy_avail.core.signatures",
    "Emulator": "cronofy_avail.emulator.server",
    "Playground": "cronofy_avail.playground",
    "SyncCoordinator": "cronofy_avail.runtime.coordinator",
    # The four steps: 1 and 2 create, 3 is the engine (driven by the coordinator), 4 queries.
    "create_sub_calendar": "cronofy_avail.runtime.steps",
    "create_channel": "cronofy_avail.runtime.steps",
    "onboard_user": "cronofy_avail.runtime.steps",
    "SyncEngine": "cronofy_avail.runtime.sync",
    "query_availability": "cronofy_avail.runtime.steps",
    "MemoryStore": "cronofy_avail.runtime.store",
    "SQLiteStore": "cronofy_avail.runtime.store",
    # The Jupyter wizard: needs the optional `notebook` extra (ipywidgets, anywidget).
    "Wizard": "cronofy_avail.notebook.widgets",
}

__all__ = [
    "CronofyClient",
    "Emulator",
    "MemoryStore",
    "Playground",
    "SQLiteStore",
    "SyncCoordinator",
    "SyncEngine",
    "Wizard",
    "__version__",
    "create_channel",
    "create_sub_calendar",
    "onboard_user",
    "query_availability",
    "sign",
    "verify",
    "verify_notification",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
