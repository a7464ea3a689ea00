"""The one exception every command's output shares, apart from the writers in :mod:`.common`
so that the console script catches it without importing aiohttp first."""

from __future__ import annotations


class OutputClosed(Exception):
    """The reader of the command's output went away (``cronofy-avail status | head -1``)."""
