"""Pagination: a read (events, available periods) keeps its whole answer under a cursor and
hands out page tokens (``next_page``) that only the same account may follow."""

from __future__ import annotations

from collections import OrderedDict

from cronofy_avail.emulator.state.records import AccountRecord, Cursor, Json
from cronofy_avail.emulator.state.shared import StateContext, random_hex
from cronofy_avail.emulator.validation import ApiError

MAX_CURSORS = 500
"""Answers kept; the oldest is forgotten first."""
MAX_PAGE_TOKENS = 5000
"""Page tokens kept; the oldest is forgotten first."""


class Pages:
    """The cursors of recent reads and their page tokens. ``page_size`` starts from the config
    and may be changed at run time (the control API's settings)."""

    def __init__(self, ctx: StateContext) -> None:
        self.page_size = ctx.config.page_size
        self.reset()

    def reset(self) -> None:
        self.cursors: OrderedDict[str, tuple[str, int]] = OrderedDict()
        self._cursor_data: dict[str, Cursor] = {}

    def first_page(self, account: AccountRecord, kind: str, items: list[Json], base: str) -> Json:
        """Page 1 of ``items`` (all of a read's answer), kept under a new cursor for the rest."""
        cursor_id = random_hex(10)
        self._cursor_data[cursor_id] = Cursor(account.account_id, kind, items, self.page_size)
        while len(self._cursor_data) > MAX_CURSORS:
            oldest = next(iter(self._cursor_data))
            del self._cursor_data[oldest]
        return self._page(cursor_id, 1, base)

    def _page(self, cursor_id: str, number: int, base: str) -> Json:
        cursor = self._cursor_data[cursor_id]
        size = max(1, cursor.page_size)
        total = max(1, -(-len(cursor.items) // size))
        pages: Json = {"current": number, "total": total}
        if number < total:
            token = random_hex(12)
            self.cursors[token] = (cursor_id, number + 1)
            while len(self.cursors) > MAX_PAGE_TOKENS:
                self.cursors.popitem(last=False)
            pages["next_page"] = f"{base}/v1/{cursor.kind}/pages/{token}"
        chunk = cursor.items[(number - 1) * size : number * size]
        return {"pages": pages, cursor.kind: chunk}

    def next_page(self, account: AccountRecord, kind: str, token: str, base: str) -> Json:
        """A later page. Unknown, expired or another account's token → 404."""
        entry = self.cursors.get(token)
        if entry is None or entry[0] not in self._cursor_data:
            raise ApiError(404, reason="no such page")
        cursor = self._cursor_data[entry[0]]
        if cursor.account_id != account.account_id or cursor.kind != kind:
            raise ApiError(404, reason="no such page")
        return self._page(entry[0], entry[1], base)
