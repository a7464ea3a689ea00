"""webhook_server: receives Cronofy push notifications, standalone or mounted in a host app.

>>> handle = await async_setup(app, WebhookConfig(store=..., coordinator=..., client_secrets=[...]))
>>> ...
>>> await handle.async_unload()
"""

from __future__ import annotations

import json
import logging
from importlib.resources import files
from typing import Any

from webhook_server.plugin import (
    DEFAULT_MAX_BODY,
    DEFAULT_PREFIX,
    WebhookConfig,
    WebhookHandle,
    async_setup,
    async_unload,
    redact,
)
from webhook_server.server import WebhookServer

# A library logs, the application shows (see cronofy_avail/__init__.py): no last-resort
# handler writing into whichever notebook cell's output started the receiver.
logging.getLogger(__name__).addHandler(logging.NullHandler())


def manifest() -> dict[str, Any]:
    """The integration manifest (domain, version, requirements)."""
    data: dict[str, Any] = json.loads(files(__package__).joinpath("manifest.json").read_text())
    return data


__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_PREFIX",
    "WebhookConfig",
    "WebhookHandle",
    "WebhookServer",
    "async_setup",
    "async_unload",
    "manifest",
    "redact",
]
