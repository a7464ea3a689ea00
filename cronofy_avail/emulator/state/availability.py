"""Availability queries (``POST /v1/availability``) over the accounts' calendars, events and
available periods. The interval arithmetic is :mod:`cronofy_avail.emulator.availability`'."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cronofy_avail.core.models import format_time
from cronofy_avail.emulator import availability as av
from cronofy_avail.emulator.availability_query import MemberQuery, parse_availability
from cronofy_avail.emulator.state.records import AccountRecord, Json
from cronofy_avail.emulator.state.shared import StateContext, instant_bounds
from cronofy_avail.emulator.validation import Errors


class Availability:
    """Answers availability queries from what the accounts hold; keeps no data of its own."""

    def __init__(self, ctx: StateContext) -> None:
        self.ctx = ctx

    def query(self, body: Mapping[str, Any], client_id: str) -> Json:
        """Answer for the application ``client_id``: only its accounts are authorized."""
        errors = Errors()
        request = parse_availability(body, errors)
        groups: list[av.GroupInput] = []
        for group in request.groups if request is not None else []:
            members: list[av.MemberInput] = []
            for member in group.members:
                account = self.ctx.accounts.get(member.sub)
                if account is None or account.client_id != client_id:
                    errors.invalid("participants", f"{member.sub} is not an authorized account")
                    continue
                members.append(self._member_input(errors, account, member))
            required = len(group.members) if group.required is None else group.required
            groups.append(av.GroupInput(members, required))
        errors.raise_if_any()
        assert request is not None
        duration = request.required_duration
        buffers = {"buffer_before": request.buffer_before, "buffer_after": request.buffer_after}
        results: list[av.Result]
        if request.query_slots is not None:
            results = av.check_slots(groups, request.query_periods, **buffers)
        elif request.response_format == "periods":
            results = av.compute_periods(
                groups, request.query_periods, required_duration=duration, **buffers
            )
        else:
            interval = request.start_interval or min(duration, timedelta(minutes=60))
            results = av.compute_slots(
                groups,
                request.query_periods,
                duration=duration,
                start_interval=interval,
                overlapping=request.response_format == "overlapping_slots",
                **buffers,
            )
        if request.max_results is not None:
            results = results[: request.max_results]
        key = "available_periods" if request.response_format == "periods" else "available_slots"
        return {
            key: [
                {
                    "start": format_time(r.start),
                    "end": format_time(r.end),
                    "participants": [{"sub": s} for s in r.participants],
                }
                for r in results
            ]
        }

    def _member_input(
        self, errors: Errors, account: AccountRecord, member: MemberQuery
    ) -> av.MemberInput:
        calendar_ids = member.calendar_ids
        if calendar_ids is None:
            consulted = set(account.calendars)  # house rule: omitted = every calendar
        else:
            consulted = set(calendar_ids)
            if any(c not in account.calendars for c in consulted):
                errors.invalid("participants", "calendar_ids holds a calendar of another account")
        tz = ZoneInfo(account.tzid)
        live = {c for c in consulted if c in account.calendars and not account.calendars[c].deleted}
        busy = [
            instant_bounds(e.start, e.end, tz)
            for e in account.events.values()
            if e.calendar_id in live
            and not e.deleted
            and e.status != "cancelled"
            and e.transparency != "transparent"
            and e.participation_status != "declined"
        ]
        managed = None
        if member.managed_availability:
            managed = [(p.start, p.end) for p in account.periods.values()]
        return av.MemberInput(account.account_id, busy, managed, member.available_periods)
