"""Events as the application sees them: reading (windows, ``last_modified``, deleted and moved
events, managed ones) and writing (managed events by ``event_id``, edits by ``event_uid``,
deletes and bulk deletes). What the user does in their calendar app is :mod:`.user_events`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cronofy_avail.core.models import format_time
from cronofy_avail.emulator.state.calendars import Calendars
from cronofy_avail.emulator.state.pages import Pages
from cronofy_avail.emulator.state.records import (
    AccountRecord,
    Boundary,
    EventRecord,
    Json,
    Query,
)
from cronofy_avail.emulator.state.shared import (
    StateContext,
    format_boundary,
    instant_bounds,
    overlaps,
    query_value,
    query_values,
    random_hex,
    require_scope,
)
from cronofy_avail.emulator.validation import (
    KEY_INVALID,
    Errors,
    bool_param,
    check_id,
    check_order,
    date_param,
    time_value,
    unprocessable,
    zone,
)


class Events:
    """Every account's events (kept on each :class:`AccountRecord`), and which account owns
    each ``event_uid``."""

    def __init__(self, ctx: StateContext, calendars: Calendars, pages: Pages) -> None:
        self.ctx = ctx
        self.calendars = calendars
        self.pages = pages
        self.reset()

    def reset(self) -> None:
        self._owner: dict[str, str] = {}

    def add(self, account: AccountRecord, event: EventRecord) -> None:
        """Keep a new event in ``account``."""
        account.events[event.event_uid] = event
        self._owner[event.event_uid] = account.account_id

    def known(self, event_uid: str) -> bool:
        """Whether some event (of any account, deleted or not) has ``event_uid``."""
        return event_uid in self._owner

    def event(self, event_uid: str) -> tuple[AccountRecord, EventRecord]:
        """An event and its account, by ``event_uid``; 404 when unknown."""
        account = self.ctx.owner(self._owner, event_uid, "event")
        return account, account.events[event_uid]

    # ------------------------------------------------------------------ read

    def read_events(self, account: AccountRecord, query: Query, base_url: str) -> Json:
        require_scope(account, "read_events")
        errors = Errors()
        tz = zone(errors, "tzid", query_value(query, "tzid"), required=True)
        first = date_param(errors, "from", query_value(query, "from"))
        last = date_param(errors, "to", query_value(query, "to"))
        last_modified_raw = query_value(query, "last_modified")
        last_modified = None
        if last_modified_raw:
            value = time_value(errors, "last_modified", last_modified_raw, allow_date=False)
            last_modified = value if isinstance(value, datetime) else None
        include_deleted = bool_param(
            errors, "include_deleted", query_value(query, "include_deleted")
        )
        include_moved = bool_param(errors, "include_moved", query_value(query, "include_moved"))
        include_managed = bool_param(
            errors, "include_managed", query_value(query, "include_managed")
        )
        only_managed = bool_param(errors, "only_managed", query_value(query, "only_managed"))
        localized = bool_param(errors, "localized_times", query_value(query, "localized_times"))
        bool_param(errors, "include_geo", query_value(query, "include_geo"))
        calendar_ids = query_values(query, "calendar_ids")
        if calendar_ids is not None and any(c not in account.calendars for c in calendar_ids):
            errors.invalid("calendar_ids", "calendar_ids holds a calendar not in this account")
        errors.raise_if_any()
        assert tz is not None
        today = self.ctx.clock().astimezone(tz).date()
        # Cronofy's docs: managed events are not subject to the *default* window.
        managed_windowed = first is not None or last is not None
        first = first or today - timedelta(days=self.ctx.config.events_days_back)
        last = last or today + timedelta(days=self.ctx.config.events_days_ahead)
        if last <= first:
            raise unprocessable("to", KEY_INVALID, "to must be after from")
        tzid = str(tz.key)
        window = (first, last)
        found: list[EventRecord] = []
        for event in account.events.values():
            if calendar_ids is not None and event.calendar_id not in calendar_ids:
                continue
            calendar = account.calendars.get(event.calendar_id)
            if calendar is None or calendar.deleted:
                continue
            if only_managed and not event.managed:
                continue
            if event.managed and not (include_managed or only_managed):
                continue
            if event.deleted and not include_deleted:
                continue
            if last_modified is not None:
                modified = (
                    event.updated if self.ctx.config.own_changes_count else event.external_updated
                )
                if modified is None or modified < last_modified:
                    continue
            positions = event.positions if include_moved else [(event.start, event.end)]
            if (not event.managed or managed_windowed) and not any(
                overlaps(s, e, window, tz) for s, e in positions
            ):
                continue
            found.append(event)
        found.sort(key=lambda e: (instant_bounds(e.start, e.end, tz)[0], e.event_uid))
        items = [self.event_json(e, tz, tzid, localized=localized) for e in found]
        return self.pages.first_page(account, "events", items, base_url)

    def event_json(
        self, event: EventRecord, tz: ZoneInfo, tzid: str, *, localized: bool = False
    ) -> Json:
        out: Json = {
            "calendar_id": event.calendar_id,
            "event_uid": event.event_uid,
            "summary": event.summary,
            "description": event.description,
            "start": format_boundary(event.start, tz, tzid, localized),
            "end": format_boundary(event.end, tz, tzid, localized),
            "deleted": event.deleted,
            "created": format_time(event.created),
            "updated": format_time(event.updated),
            "status": event.status,
            "transparency": event.transparency,
            "participation_status": event.participation_status,
            "recurring": event.recurring,
            "attendees": list(event.attendees),
            "organizer": dict(event.organizer or self._owner_organizer(event)),
            "categories": [],
            "options": {"delete": True, "update": True, "change_participation_status": True},
            "event_private": False,
        }
        if event.event_id is not None:
            out["event_id"] = event.event_id
        if event.series_identifier is not None:
            out["series_identifier"] = event.series_identifier
        if event.location:
            out["location"] = {"description": event.location}
        return out

    def _owner_organizer(self, event: EventRecord) -> Json:
        """House rule: an event nobody set an organizer on is organized by the calendar's
        owner (the account), as for events a person creates in their own calendar."""
        account = self.ctx.accounts.get(event.account_id)
        if account is None:
            return {}
        return {"email": account.email, "display_name": account.name}

    # ------------------------------------------------------------------ write

    def upsert_managed_event(
        self, account: AccountRecord, calendar_id: str, body: Mapping[str, Any]
    ) -> None:
        """``POST /v1/calendars/{calendar_id}/events``: a managed event keyed by ``event_id``,
        or an edit of an existing (external) event keyed by ``event_uid``."""
        require_scope(account, "create_event")
        calendar = self.calendars.own_calendar(account, calendar_id)
        errors = Errors()
        by_uid = body.get("event_id") is None and body.get("event_uid") is not None
        event_id = "" if by_uid else check_id(errors, "event_id", body.get("event_id"))
        summary = body.get("summary")
        if not summary and not by_uid:
            errors.required("summary")
        tz = zone(errors, "tzid", body.get("tzid"), required=False)
        start = end = None
        if not by_uid or "start" in body or "end" in body:
            start = time_value(errors, "start", body.get("start"), allow_date=True)
            end = time_value(errors, "end", body.get("end"), allow_date=True)
            check_order(errors, start, end)
        transparency = body.get("transparency", "opaque")
        if transparency not in ("opaque", "transparent"):
            errors.invalid("transparency", "transparency must be opaque or transparent")
        target = None
        if by_uid:
            target = self._event_by_uid(errors, account, calendar_id, body.get("event_uid"))
        errors.raise_if_any()
        if calendar.readonly:
            raise unprocessable("calendar_id", "errors.read_only", "the calendar is read-only")
        now = self.ctx.clock()
        description = body.get("description")
        if by_uid:
            assert target is not None
            if summary:
                target.summary = str(summary)
            if description is not None:
                target.description = str(description)
            if "transparency" in body:
                target.transparency = str(transparency)
            if start is not None and end is not None:
                move(target, start, end)
            self._own_change(account, target, now)
            return
        assert start is not None
        assert end is not None
        existing = next(
            (
                e
                for e in account.events.values()
                if e.event_id == event_id and e.calendar_id == calendar_id
            ),
            None,
        )
        if existing is None:
            event = EventRecord(
                event_uid=f"evt_managed_{random_hex(12)}",
                account_id=account.account_id,
                calendar_id=calendar_id,
                start=start,
                end=end,
                created=now,
                updated=now,
                event_id=event_id,
                summary=str(summary),
                description=str(description or ""),
                transparency=str(transparency),
                tzid=str(tz.key) if tz else None,
                positions=[(start, end)],
            )
            self.add(account, event)
            self._own_change(account, event, now)
            return
        existing.summary = str(summary)
        existing.description = str(description or "")
        existing.transparency = str(transparency)
        existing.deleted = False
        existing.status = "confirmed"
        move(existing, start, end)
        self._own_change(account, existing, now)

    def delete_managed_event(
        self, account: AccountRecord, calendar_id: str, body: Mapping[str, Any]
    ) -> None:
        """``DELETE /v1/calendars/{calendar_id}/events`` by ``event_id`` (a managed event)
        or by ``event_uid`` (any event of the calendar, external ones included)."""
        require_scope(account, "delete_event")
        self.calendars.own_calendar(account, calendar_id)
        errors = Errors()
        now = self.ctx.clock()
        if body.get("event_id") is None and body.get("event_uid") is not None:
            uid = body.get("event_uid")
            if not isinstance(uid, str) or not uid:
                errors.invalid("event_uid", "event_uid must be a string")
            errors.raise_if_any()
            event = account.events.get(str(uid))
            # Unknown event_uid: accepted like an unknown event_id (house rule).
            if event is not None and event.calendar_id == calendar_id and not event.deleted:
                event.deleted = True
                self._own_change(account, event, now)
            return
        event_id = check_id(errors, "event_id", body.get("event_id"))
        errors.raise_if_any()
        for event in account.events.values():
            if (
                event.event_id == event_id
                and event.calendar_id == calendar_id
                and not event.deleted
            ):
                event.deleted = True
                self._own_change(account, event, now)
        # Unknown event_id: accepted (the event is gone either way).

    def bulk_delete_events(self, account: AccountRecord, body: Mapping[str, Any]) -> None:
        """``DELETE /v1/events``: every event this application manages, either in the whole
        account (``{"delete_all": true}``) or in the calendars named (``{"calendar_ids":
        [...]}``); the user's own events stay. Cronofy answers 202 (its Bulk Delete Events
        docs; cronofy-ruby ``Client#delete_all_events``, cronofy-node ``bulkDelete``)."""
        require_scope(account, "delete_event")
        errors = Errors()
        delete_all = bool_param(errors, "delete_all", body.get("delete_all"))
        raw_ids = body.get("calendar_ids")
        if delete_all == (raw_ids is not None):
            # House rule (Cronofy documents the two forms, not a mix or neither): a 422.
            errors.invalid("delete_all", "give either delete_all: true or calendar_ids")
        ids: set[str] = set()
        if raw_ids is not None:
            if not isinstance(raw_ids, list) or not all(isinstance(c, str) for c in raw_ids):
                errors.invalid("calendar_ids", "calendar_ids must be a list of calendar ids")
            else:
                ids = set(raw_ids)
        errors.raise_if_any()
        for calendar_id in sorted(ids):
            self.calendars.own_calendar(account, calendar_id)
        now = self.ctx.clock()
        for event in account.events.values():
            if event.managed and not event.deleted and (delete_all or event.calendar_id in ids):
                event.deleted = True
                self._own_change(account, event, now)

    def _event_by_uid(
        self, errors: Errors, account: AccountRecord, calendar_id: str, uid: Any
    ) -> EventRecord | None:
        event = account.events.get(uid) if isinstance(uid, str) else None
        if event is None or event.calendar_id != calendar_id or event.deleted:
            # House rule (Cronofy is silent): editing an unknown event_uid is a 422.
            errors.invalid("event_uid", "event_uid is not an event of this calendar")
            return None
        return event

    def _own_change(self, account: AccountRecord, event: EventRecord, at: datetime) -> None:
        """This application changed ``event``: ``updated`` moves; whether ``last_modified``
        and the channels see it is ``config.own_changes_count``."""
        event.updated = at
        if self.ctx.config.own_changes_count:
            self.ctx.calendar_changed(account, event.calendar_id, managed=event.managed, at=at)


def move(event: EventRecord, start: Boundary, end: Boundary) -> None:
    """Give ``event`` new times, remembering the old ones (``include_moved`` reads them)."""
    if (start, end) != (event.start, event.end):
        event.start, event.end = start, end
        event.positions.append((start, end))
