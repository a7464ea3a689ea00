"""Available Periods (``/v1/available_periods``): upserted, deleted and listed by the
application; availability queries with ``managed_availability`` read them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from cronofy_avail.emulator.state.pages import Pages
from cronofy_avail.emulator.state.records import AccountRecord, Json, PeriodRecord, Query
from cronofy_avail.emulator.state.shared import format_boundary, local_midnight, query_value
from cronofy_avail.emulator.validation import (
    Errors,
    bool_param,
    check_id,
    check_order,
    date_param,
    time_value,
    zone,
)


class Periods:
    """The accounts' available periods (kept on each :class:`AccountRecord`)."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def upsert_period(self, account: AccountRecord, body: Mapping[str, Any]) -> None:
        errors = Errors()
        period_id = check_id(errors, "available_period_id", body.get("available_period_id"))
        zone(errors, "tzid", body.get("tzid"), required=False)
        start = time_value(errors, "start", body.get("start"), allow_date=False)
        end = time_value(errors, "end", body.get("end"), allow_date=False)
        check_order(errors, start, end)
        errors.raise_if_any()
        assert isinstance(start, datetime)
        assert isinstance(end, datetime)
        account.periods[period_id] = PeriodRecord(period_id, start, end)

    def delete_period(self, account: AccountRecord, body: Mapping[str, Any]) -> None:
        errors = Errors()
        delete_all = bool_param(errors, "delete_all", body.get("delete_all"))
        raw_id = body.get("available_period_id")
        if delete_all and raw_id is None:
            errors.raise_if_any()
            account.periods.clear()
            return
        if delete_all:
            errors.invalid("delete_all", "give either available_period_id or delete_all")
        period_id = check_id(errors, "available_period_id", raw_id)
        errors.raise_if_any()
        account.periods.pop(period_id, None)  # unknown id: 202 (house rule)

    def list_periods(self, account: AccountRecord, query: Query, base_url: str) -> Json:
        errors = Errors()
        first = date_param(errors, "from", query_value(query, "from"))
        last = date_param(errors, "to", query_value(query, "to"))
        tz = zone(
            errors,
            "tzid",
            query_value(query, "tzid"),
            required=first is not None or last is not None,
        )
        localized = bool_param(errors, "localized_times", query_value(query, "localized_times"))
        errors.raise_if_any()
        zone_info = tz or ZoneInfo("Etc/UTC")
        tzid = str(zone_info.key)
        items = []
        for period in sorted(
            account.periods.values(), key=lambda p: (p.start, p.available_period_id)
        ):
            if first is not None and period.end <= local_midnight(first, zone_info):
                continue
            if last is not None and period.start >= local_midnight(last, zone_info):
                continue
            items.append(
                {
                    "available_period_id": period.available_period_id,
                    "start": format_boundary(period.start, zone_info, tzid, localized),
                    "end": format_boundary(period.end, zone_info, tzid, localized),
                }
            )
        return self.pages.first_page(account, "available_periods", items, base_url)
