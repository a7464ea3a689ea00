"""aioresponses 0.7.9 builds ``ClientResponse`` objects without the ``stream_writer`` argument that
aiohttp 3.14 made required (``ClientResponse.__init__() missing ... 'stream_writer'``). aiohttp
must not be pinned below 3.14 (a security release), so until aioresponses catches up this shim
supplies the one attribute aiohttp reads from that argument for a request already sent: its
``output_size``. Remove it once aioresponses passes ``stream_writer`` itself.

Importing this module installs the shim (``tests/conftest.py`` does, before any test runs).
"""

from __future__ import annotations

from typing import Any

import aioresponses.core
from aiohttp import ClientResponse
from yarl import URL


class _SentRequestWriter:
    """Stands in for the writer of a request that has already been sent."""

    output_size = 0


class _ShimClientResponse(ClientResponse):
    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _SentRequestWriter())
        super().__init__(method, url, **kwargs)


aioresponses.core.ClientResponse = _ShimClientResponse  # type: ignore[attr-defined]
