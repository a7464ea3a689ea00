"""webhook_server: receives Cronofy push notifications, standalone or mounted in a host app.

>>> handle = await async_setup(app, WebhookConfig(store=..., coordinator=..., client_secrets=[...]))
>>> ...
>>> await handle.async_unload()
"""

from __future__ import annotations

import json
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
