"""The receiver's cache of callback keys it has accepted (key -> user id), bounded.

The check made before a body is read (is this a user's key?) costs a store call only for a key
not in the cache. The cache keeps the ``size`` keys used most recently: at 10,000 users it
must not keep a key per user for ever (a miss only costs that store call again)."""

from __future__ import annotations

from collections import OrderedDict

DEFAULT_KEY_CACHE = 100_000
"""Keys kept by default (``CRONOFY_AVAIL_KEY_CACHE``): about 130 bytes each."""


class KeyCache:
    """Least recently used first out; ``size`` 0 caches nothing."""

    __slots__ = ("_entries", "size")

    def __init__(self, size: int = DEFAULT_KEY_CACHE) -> None:
        if size < 0:
            raise ValueError("the key cache size must be 0 or more")
        self.size = size
        self._entries: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: str) -> str | None:
        """The user id of ``key`` (now the most recently used), or ``None``."""
        user_id = self._entries.get(key)
        if user_id is not None:
            self._entries.move_to_end(key)
        return user_id

    def put(self, key: str, user_id: str) -> None:
        """Remember ``key``; the least recently used key goes when the cache is full."""
        if self.size == 0:
            return
        entries = self._entries
        if key in entries:
            entries.move_to_end(key)
        entries[key] = user_id
        if len(entries) > self.size:
            entries.popitem(last=False)

    def discard(self, key: str) -> None:
        self._entries.pop(key, None)
