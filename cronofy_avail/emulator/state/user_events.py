"""Events as the user changes them in their calendar app (the control API plays the user):
new events and recurring series, edits, moves and deletes. Every change notifies the
channels; ``last_modified`` sees it whatever ``own_changes_count`` says."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cronofy_avail.emulator.state.calendars import Calendars
from cronofy_avail.emulator.state.events import Events, move
from cronofy_avail.emulator.state.records import Boundary, EventRecord, Json
from cronofy_avail.emulator.state.shared import StateContext, random_hex
from cronofy_avail.emulator.validation import (
    KEY_INVALID,
    ApiError,
    Errors,
    check_order,
    time_value,
    unprocessable,
    zone,
)


class UserEvents:
    """The user's side of :class:`Events`: it keeps no data of its own."""

    def __init__(self, ctx: StateContext, calendars: Calendars, events: Events) -> None:
        self.ctx = ctx
        self.calendars = calendars
        self.events = events

    def external_add_events(self, calendar_id: str, spec: Mapping[str, Any]) -> list[Json]:
        """The user creates an event (or a recurring series) in their calendar app."""
        account = self.calendars.calendar_account(calendar_id)
        errors = Errors()
        tz = zone(errors, "tzid", spec.get("tzid") or account.tzid, required=True)
        start = time_value(errors, "start", spec.get("start"), allow_date=True, local_tz=tz)
        end = time_value(errors, "end", spec.get("end"), allow_date=True, local_tz=tz)
        check_order(errors, start, end)
        fields = self._external_fields(errors, spec)
        uid = spec.get("event_uid")
        if uid is not None and (not isinstance(uid, str) or not uid or self.events.known(uid)):
            errors.invalid("event_uid", "event_uid must be a new, non-empty string")
        recurrence = spec.get("recurrence")
        count, step = 1, timedelta(0)
        if recurrence is not None:
            if not isinstance(recurrence, Mapping):
                errors.invalid("recurrence", "recurrence must be an object")
            else:
                frequency = recurrence.get("frequency", "daily")
                interval = recurrence.get("interval", 1)
                raw_count = recurrence.get("count", 1)
                days = {"daily": 1, "weekly": 7}.get(str(frequency))
                if days is None:
                    errors.invalid("recurrence", "recurrence.frequency must be daily or weekly")
                elif not isinstance(interval, int) or not isinstance(raw_count, int):
                    errors.invalid("recurrence", "recurrence.count and interval are integers")
                elif not 1 <= raw_count <= 366 or not 1 <= interval <= 52:
                    errors.invalid(
                        "recurrence", "recurrence.count must be 1..366 and interval 1..52"
                    )
                else:
                    count, step = raw_count, timedelta(days=days * interval)
        errors.raise_if_any()
        assert start is not None
        assert end is not None
        assert tz is not None
        now = self.ctx.clock()
        series = None
        if recurrence is not None:
            series = spec.get("series_identifier") or f"series_{random_hex(10)}"
            if any(
                e.series_identifier == series
                for a in self.ctx.accounts.values()
                if a is not account
                for e in a.events.values()
            ):
                raise unprocessable("series_identifier", KEY_INVALID, "another account's series")
        try:
            last_end = end + step * (count - 1)
        except OverflowError:
            raise unprocessable("recurrence", KEY_INVALID, "the series ends after 9999") from None
        del last_end
        made: list[Json] = []
        for index in range(count):
            occurrence_uid = uid if (uid and index == 0) else None
            if uid and index > 0:
                occurrence_uid = f"{uid}_{index}"
            event = EventRecord(
                event_uid=occurrence_uid or f"evt_external_{random_hex(12)}",
                account_id=account.account_id,
                calendar_id=calendar_id,
                start=start + step * index,
                end=end + step * index,
                created=now,
                updated=now,
                recurring=series is not None,
                series_identifier=str(series) if series else None,
                tzid=str(tz.key),
                external_updated=now,
                **fields,
            )
            event.positions.append((event.start, event.end))
            self.events.add(account, event)
            made.append(self.events.event_json(event, tz, str(tz.key)))
        self.ctx.calendar_changed(account, calendar_id, managed=False, at=now)
        return made

    @staticmethod
    def _external_fields(errors: Errors, spec: Mapping[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        choices = {
            "status": ("tentative", "confirmed", "cancelled", "unknown"),
            "transparency": ("opaque", "transparent", "unknown"),
            "participation_status": (
                "needs_action",
                "accepted",
                "declined",
                "tentative",
                "unknown",
            ),
        }
        for name, allowed in choices.items():
            if name in spec:
                if spec[name] not in allowed:
                    errors.invalid(name, f"{name} must be one of {', '.join(allowed)}")
                else:
                    fields[name] = spec[name]
        for name in ("summary", "description", "location"):
            if name in spec:
                if spec[name] is not None and not isinstance(spec[name], str):
                    errors.invalid(name, f"{name} must be a string")
                else:
                    fields[name] = spec[name]
        if "organizer" in spec:
            organizer = spec["organizer"]
            if not isinstance(organizer, dict) or not isinstance(organizer.get("email"), str):
                errors.invalid("organizer", "organizer must be an object with an email")
            else:
                fields["organizer"] = organizer
        if "attendees" in spec:
            attendees = spec["attendees"]
            if not isinstance(attendees, list) or not all(isinstance(a, dict) for a in attendees):
                errors.invalid("attendees", "attendees must be a list of objects")
            else:
                fields["attendees"] = attendees
        return fields

    def external_update_event(self, event_uid: str, spec: Mapping[str, Any]) -> Json:
        """The user moves or edits an event (times, status, transparency, participation)."""
        account, event = self.events.event(event_uid)
        if event.deleted:
            raise unprocessable("event_uid", KEY_INVALID, "the event is deleted")
        errors = Errors()
        tz = zone(errors, "tzid", spec.get("tzid") or event.tzid or account.tzid, required=True)
        start: Boundary | None = event.start
        end: Boundary | None = event.end
        if "start" in spec:
            start = time_value(errors, "start", spec["start"], allow_date=True, local_tz=tz)
        if "end" in spec:
            end = time_value(errors, "end", spec["end"], allow_date=True, local_tz=tz)
        check_order(errors, start, end)
        fields = self._external_fields(errors, spec)
        errors.raise_if_any()
        assert start is not None
        assert end is not None
        assert tz is not None
        now = self.ctx.clock()
        for name, value in fields.items():
            setattr(event, name, value)
        move(event, start, end)
        event.updated = now
        event.external_updated = now
        self.ctx.calendar_changed(account, event.calendar_id, managed=event.managed, at=now)
        return self.events.event_json(event, tz, str(tz.key))

    def external_delete_event(self, event_uid: str) -> Json:
        account, event = self.events.event(event_uid)
        now = self.ctx.clock()
        if not event.deleted:
            event.deleted = True
            event.updated = now
            event.external_updated = now
            self.ctx.calendar_changed(account, event.calendar_id, managed=event.managed, at=now)
        tz = ZoneInfo(event.tzid or account.tzid)
        return self.events.event_json(event, tz, str(tz.key))

    def external_delete_series(self, series_identifier: str) -> list[Json]:
        uids = [
            e.event_uid
            for a in self.ctx.accounts.values()
            for e in a.events.values()
            if e.series_identifier == series_identifier and not e.deleted
        ]
        if not uids:
            raise ApiError(404, reason="no such series")
        return [self.external_delete_event(uid) for uid in uids]

    def calendar_events(self, calendar_id: str) -> list[Json]:
        """Every event of a calendar, managed and deleted included (control API)."""
        account = self.calendars.calendar_account(calendar_id)
        tz = ZoneInfo(account.tzid)
        return [
            self.events.event_json(e, tz, account.tzid)
            for e in account.events.values()
            if e.calendar_id == calendar_id
        ]
