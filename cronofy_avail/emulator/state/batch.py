"""Batch requests (``POST /v1/batch``): each entry an available period or managed event
upsert or delete, answered one status per entry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from cronofy_avail.emulator.state.events import Events
from cronofy_avail.emulator.state.periods import Periods
from cronofy_avail.emulator.state.records import AccountRecord, Json
from cronofy_avail.emulator.state.shared import StateContext
from cronofy_avail.emulator.validation import KEY_INVALID, ApiError, unprocessable


class Batch:
    """Runs batch entries through :class:`Periods` and :class:`Events`."""

    def __init__(self, ctx: StateContext, periods: Periods, events: Events) -> None:
        self.ctx = ctx
        self.periods = periods
        self.events = events

    def run(self, account: AccountRecord, body: Mapping[str, Any]) -> Json:
        entries = body.get("batch")
        if entries is None:
            raise unprocessable("batch", "errors.required", "batch must be specified")
        if not isinstance(entries, list):
            raise unprocessable("batch", KEY_INVALID, "batch must be a list")
        if len(entries) > self.ctx.config.batch_max_entries:
            raise unprocessable(
                "batch",
                "errors.too_many_entries",
                f"a batch holds at most {self.ctx.config.batch_max_entries} entries",
            )
        results: list[Json] = []
        for entry in entries:
            try:
                self._batch_entry(account, entry)
            except ApiError as exc:
                result: Json = {"status": exc.status}
                if exc.body is not None:
                    result["data"] = exc.body
                results.append(result)
            else:
                results.append({"status": 202})
        return {"batch": results}

    def _batch_entry(self, account: AccountRecord, entry: Any) -> None:
        if not isinstance(entry, Mapping):
            raise unprocessable("batch", KEY_INVALID, "each batch entry must be an object")
        method = str(entry.get("method", "")).upper()
        url = str(entry.get("relative_url", "")).split("?", 1)[0].rstrip("/")
        data = entry.get("data") or {}
        if not isinstance(data, Mapping):
            raise unprocessable("data", KEY_INVALID, "data must be an object")
        if url == "/v1/available_periods":
            if method == "POST":
                return self.periods.upsert_period(account, data)
            if method == "DELETE":
                return self.periods.delete_period(account, data)
        parts = url.split("/")
        if len(parts) == 5 and parts[1:3] == ["v1", "calendars"] and parts[4] == "events":
            calendar_id = unquote(parts[3])
            if method == "POST":
                return self.events.upsert_managed_event(account, calendar_id, data)
            if method == "DELETE":
                return self.events.delete_managed_event(account, calendar_id, data)
        raise ApiError(404, reason="unsupported batch entry")
