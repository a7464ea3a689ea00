"""Wire models: every documented payload shape parses, requests serialise the way Cronofy reads."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from cronofy_avail.core.models import (
    Account,
    AccountResponse,
    AvailabilityRequest,
    AvailabilityResponse,
    AvailablePeriod,
    AvailablePeriodsResponse,
    BatchEntry,
    BatchEntryResult,
    BatchRequest,
    BatchResponse,
    CalendarResponse,
    CalendarsResponse,
    ChannelFilters,
    ChannelResponse,
    ChannelsResponse,
    CreateCalendarRequest,
    CreateChannelRequest,
    DeleteAvailablePeriodRequest,
    ErrorBody,
    Event,
    EventsResponse,
    LocalizedTime,
    ProfilesResponse,
    QueryPeriod,
    TokenResponse,
    UpsertAvailablePeriodRequest,
    UpsertEventRequest,
    UserInfo,
    format_time,
    parse_time,
    utc_instant,
)
from cronofy_avail.core.signatures import MalformedNotificationError, parse_notification
from tests.support.client import CALENDAR, PROFILE

NINE = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
TEN = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
PARIS = timezone(timedelta(hours=1))


def dump(model: Any) -> Any:
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


# --------------------------------------------------------------------------- times


def test_format_time_is_utc_with_seconds_and_z() -> None:
    assert format_time(NINE) == "2026-11-24T09:00:00Z"
    assert format_time(datetime(2026, 11, 24, 10, 0, 30, 999, tzinfo=PARIS)) == (
        "2026-11-24T09:00:30Z"
    )


def test_format_time_rejects_naive() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_time(datetime(2026, 11, 24, 9, 0))


def test_parse_time_accepts_z_and_offsets() -> None:
    assert parse_time("2026-11-24T09:00:00Z") == NINE
    assert parse_time("2026-11-24T10:00:00+01:00") == NINE
    assert parse_time("2026-11-24T10:00:00+01:00").tzinfo == UTC


def test_parse_time_rejects_missing_offset() -> None:
    with pytest.raises(ValueError, match="offset"):
        parse_time("2026-11-24T09:00:00")


# --------------------------------------------------------------------------- identity


def test_profiles_parse_with_open_provider_sets_and_relink_url() -> None:
    disconnected = {
        **PROFILE,
        "provider_name": "brand_new_provider",
        "provider_service": "something_else",
        "profile_connected": False,
        "profile_relink_url": "https://app.cronofy.com/relink/abc",
        "future_field": 1,
    }
    response = ProfilesResponse.model_validate({"profiles": [PROFILE, disconnected]})
    first, second = response.profiles
    assert first.provider_name == "google"
    assert first.provider_service == "gsuite"
    assert first.profile_id == "pro_n23kjnwrw2"
    assert first.profile_connected is True
    assert first.profile_initial_sync_required is False
    assert first.profile_relink_url is None
    assert second.provider_name == "brand_new_provider"
    assert second.profile_connected is False
    assert second.profile_relink_url == "https://app.cronofy.com/relink/abc"
    assert second.model_extra == {"future_field": 1}


def test_userinfo_reads_literal_dotted_keys() -> None:
    payload = {
        "sub": "acc_5700a00eb0ccd07000000000",
        "email": "jane@example.com",
        "name": "Jane",
        "zoneinfo": "Europe/London",
        "cronofy.type": "account",
        "cronofy.data": {
            "authorization": {"scope": "create_calendar read_events", "status": "active"},
            "profiles": [{**PROFILE, "profile_calendars": [CALENDAR]}],
        },
    }
    info = UserInfo.model_validate(payload)
    assert info.sub == "acc_5700a00eb0ccd07000000000"
    assert info.zoneinfo == "Europe/London"
    assert info.cronofy_type == "account"
    assert info.cronofy_data is not None
    assert info.cronofy_data.authorization is not None
    assert info.cronofy_data.authorization.scope == "create_calendar read_events"
    assert info.cronofy_data.authorization.status == "active"
    (profile,) = info.cronofy_data.profiles
    assert profile.profile_id == "pro_n23kjnwrw2"
    assert [c.calendar_id for c in profile.profile_calendars] == ["cal_n23kjnwrw2_jsdfjksn234"]
    assert dump(info)["cronofy.type"] == "account"


def test_userinfo_without_cronofy_data() -> None:
    info = UserInfo.model_validate({"sub": "acc_1"})
    assert info.cronofy_type is None
    assert info.cronofy_data is None


def test_account_scopes_split_on_spaces() -> None:
    payload = {
        "account": {
            "account_id": "acc_5700a00eb0ccd07000000000",
            "email": "jane@example.com",
            "name": "Jane",
            "scope": "create_calendar  read_events read_free_busy",
            "default_tzid": "Europe/London",
        }
    }
    account = AccountResponse.model_validate(payload).account
    assert account.scopes == frozenset({"create_calendar", "read_events", "read_free_busy"})
    assert account.default_tzid == "Europe/London"
    assert Account(account_id="acc_1").scopes == frozenset()


# --------------------------------------------------------------------------- calendars


def test_calendars_parse_ids_with_symbols() -> None:
    odd = {**CALENDAR, "calendar_id": "cal_a-b_c@group.calendar.google.com", "new": "x"}
    calendars = CalendarsResponse.model_validate({"calendars": [CALENDAR, odd]}).calendars
    assert calendars[0].calendar_name == "Availability"
    assert calendars[0].permission_level == "unrestricted"
    assert calendars[0].calendar_readonly is False
    assert calendars[1].calendar_id == "cal_a-b_c@group.calendar.google.com"
    assert calendars[1].model_extra == {"new": "x"}


def test_calendar_response_and_create_request() -> None:
    calendar = CalendarResponse.model_validate({"calendar": CALENDAR}).calendar
    assert calendar.calendar_id == CALENDAR["calendar_id"]
    assert dump(CreateCalendarRequest(profile_id="pro_1", name="Availability")) == {
        "profile_id": "pro_1",
        "name": "Availability",
    }
    assert dump(CreateCalendarRequest(profile_id="pro_1", name="A", color="#49BED8")) == {
        "profile_id": "pro_1",
        "name": "A",
        "color": "#49BED8",
    }


def test_request_models_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        CreateCalendarRequest.model_validate({"profile_id": "p", "name": "n", "colour": "x"})


# --------------------------------------------------------------------------- channels


def test_channels_parse_with_and_without_filters() -> None:
    filtered = {
        "channel_id": "chn_54cf7c7cb4ad4c1027000001",
        "callback_url": "https://example.com/hook",
        "filters": {"calendar_ids": ["cal_1"], "only_managed": False},
    }
    channel = ChannelResponse.model_validate({"channel": filtered}).channel
    assert channel.filters.calendar_ids == ["cal_1"]
    assert channel.filters.only_managed is False
    bare = {"channel_id": "chn_2", "callback_url": "https://example.com/other"}
    channels = ChannelsResponse.model_validate({"channels": [filtered, bare]}).channels
    assert [c.channel_id for c in channels] == ["chn_54cf7c7cb4ad4c1027000001", "chn_2"]
    assert channels[1].filters.calendar_ids is None


def test_create_channel_request_serialisation() -> None:
    assert dump(CreateChannelRequest(callback_url="https://x/hook")) == {
        "callback_url": "https://x/hook"
    }
    request = CreateChannelRequest(
        callback_url="https://x/hook", filters=ChannelFilters(calendar_ids=["cal_1"])
    )
    assert dump(request) == {
        "callback_url": "https://x/hook",
        "filters": {"calendar_ids": ["cal_1"]},
    }


# --------------------------------------------------------------------------- events


def test_event_timed_utc() -> None:
    ev = Event.model_validate(
        {
            "calendar_id": "cal_1",
            "event_uid": "evt_external_54008b1a4a41730f8d5c6037",
            "start": "2026-11-24T09:00:00Z",
            "end": "2026-11-24T10:00:00Z",
            "created": "2026-11-01T08:00:00Z",
            "updated": "2026-11-02T08:00:00+02:00",
        }
    )
    assert ev.start == NINE
    assert isinstance(ev.start, datetime)
    assert ev.end == TEN
    assert ev.is_all_day is False
    assert ev.updated == datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    assert ev.deleted is False
    assert ev.status is None
    assert dump(ev)["start"] == "2026-11-24T09:00:00Z"


def test_event_all_day_dates() -> None:
    ev = Event.model_validate(
        {"calendar_id": "c", "event_uid": "u", "start": "2026-11-24", "end": "2026-11-25"}
    )
    assert type(ev.start) is date
    assert ev.start == date(2026, 11, 24)
    assert ev.end == date(2026, 11, 25)
    assert ev.is_all_day is True
    assert dump(ev)["end"] == "2026-11-25"


def test_event_localized_times() -> None:
    ev = Event.model_validate(
        {
            "calendar_id": "c",
            "event_uid": "u",
            "start": {"time": "2026-11-24T10:00:00+01:00", "tzid": "Europe/Paris"},
            "end": {"time": "2026-11-24T11:00:00+01:00", "tzid": "Europe/Paris"},
        }
    )
    assert isinstance(ev.start, LocalizedTime)
    assert ev.start.tzid == "Europe/Paris"
    assert ev.start.time.utcoffset() == timedelta(hours=1)
    assert ev.start.utc == NINE
    assert ev.is_all_day is False
    assert isinstance(ev.end, LocalizedTime)
    assert utc_instant(ev.end) == TEN
    assert dump(ev)["start"] == {"time": "2026-11-24T10:00:00+01:00", "tzid": "Europe/Paris"}


@pytest.mark.parametrize("key", ["status", "event_status"])
def test_event_status_both_spellings(key: str) -> None:
    ev = Event.model_validate(
        {
            "calendar_id": "c",
            "event_uid": "u",
            "start": "2026-11-24T09:00:00Z",
            "end": "2026-11-24T10:00:00Z",
            key: "cancelled",
        }
    )
    assert ev.status == "cancelled"


def test_event_keeps_unknown_fields_and_open_enum_values() -> None:
    payload = {
        "calendar_id": "c",
        "event_uid": "u",
        "event_id": "mine-1",
        "start": "2026-11-24T09:00:00Z",
        "end": "2026-11-24T10:00:00Z",
        "deleted": True,
        "status": "postponed_by_aliens",
        "transparency": "translucent",
        "participation_status": "maybe_later",
        "recurring": True,
        "series_identifier": "series_1",
        "attendees": [{"email": "a@example.com", "display_name": "A", "status": "accepted"}],
        "organizer": {"email": "o@example.com", "display_name": "O"},
        "location": {"description": "Room 1", "lat": "51.5", "long": -0.1},
        "categories": ["work"],
        "options": {"delete": True},
        "event_private": False,
        "meeting_url": "https://meet.example.com/x",
        "conferencing": {"provider": "zoom"},
    }
    ev = Event.model_validate(payload)
    assert ev.status == "postponed_by_aliens"
    assert ev.transparency == "translucent"
    assert ev.participation_status == "maybe_later"
    assert ev.deleted is True
    assert ev.event_id == "mine-1"
    assert ev.attendees[0].email == "a@example.com"
    assert ev.organizer is not None
    assert ev.organizer.email == "o@example.com"
    assert ev.location is not None
    assert ev.location.description == "Room 1"
    assert ev.categories == ["work"]
    assert ev.options == {"delete": True}
    assert ev.model_extra == {
        "meeting_url": "https://meet.example.com/x",
        "conferencing": {"provider": "zoom"},
    }


def test_event_rejects_time_without_offset() -> None:
    with pytest.raises(ValidationError):
        Event.model_validate(
            {"calendar_id": "c", "event_uid": "u", "start": "2026-11-24T09:00:00", "end": "x"}
        )


def test_event_requires_uid() -> None:
    with pytest.raises(ValidationError):
        Event.model_validate({"calendar_id": "c", "start": "2026-11-24", "end": "2026-11-25"})


def test_events_response_with_pages() -> None:
    response = EventsResponse.model_validate(
        {
            "pages": {
                "current": 1,
                "total": 2,
                "next_page": "https://api.cronofy.com/v1/events/p2",
            },
            "events": [
                {"calendar_id": "c", "event_uid": "u", "start": "2026-11-24", "end": "2026-11-25"}
            ],
        }
    )
    assert response.pages.total == 2
    assert response.pages.next_page == "https://api.cronofy.com/v1/events/p2"
    last = EventsResponse.model_validate({"pages": {"current": 2, "total": 2}, "events": []})
    assert last.pages.next_page is None


def test_upsert_event_request_serialisation() -> None:
    request = UpsertEventRequest(event_id="e1", summary="Busy", start=NINE, end=TEN, tzid="UTC")
    assert dump(request) == {
        "event_id": "e1",
        "summary": "Busy",
        "start": "2026-11-24T09:00:00Z",
        "end": "2026-11-24T10:00:00Z",
        "tzid": "UTC",
    }


# --------------------------------------------------------------------------- naive datetimes


def test_naive_datetimes_rejected_everywhere() -> None:
    naive = datetime(2026, 11, 24, 9, 0)
    with pytest.raises(ValidationError):
        UpsertAvailablePeriodRequest(available_period_id="p", start=naive, end=TEN)
    with pytest.raises(ValidationError):
        UpsertAvailablePeriodRequest(available_period_id="p", start=NINE, end=naive + timedelta(1))
    with pytest.raises(ValidationError):
        QueryPeriod(start=naive, end=TEN)
    with pytest.raises(ValidationError):
        AvailablePeriod(available_period_id="p", start=naive, end=TEN)
    with pytest.raises(ValidationError):
        Event(calendar_id="c", event_uid="u", start=naive, end=TEN)
    with pytest.raises(ValidationError):
        UpsertEventRequest(event_id="e", summary="s", start=naive, end=TEN)
    with pytest.raises(ValidationError):
        LocalizedTime(time=naive, tzid="Europe/Paris")


# --------------------------------------------------------------------------- available periods


def test_available_period_request_serialises_exactly() -> None:
    request = UpsertAvailablePeriodRequest(
        available_period_id="ap_1",
        start=datetime(2026, 11, 24, 10, 0, tzinfo=PARIS),
        end=TEN,
    )
    assert dump(request) == {
        "available_period_id": "ap_1",
        "start": "2026-11-24T09:00:00Z",
        "end": "2026-11-24T10:00:00Z",
    }


def test_available_period_request_accepts_localized_times() -> None:
    request = UpsertAvailablePeriodRequest.model_validate(
        {
            "available_period_id": "ap_1",
            "start": {"time": "2026-11-24T10:00:00+01:00", "tzid": "Europe/Paris"},
            "end": {"time": "2026-11-24T11:00:00+01:00", "tzid": "Europe/Paris"},
        }
    )
    assert dump(request)["start"] == {"time": "2026-11-24T10:00:00+01:00", "tzid": "Europe/Paris"}


@pytest.mark.parametrize(
    "period_id",
    ["x" * 65, "café-1", "périod", "", "id\u00a0space"],
)
def test_available_period_id_rejected_on_requests(period_id: str) -> None:
    with pytest.raises(ValidationError):
        UpsertAvailablePeriodRequest(available_period_id=period_id, start=NINE, end=TEN)
    with pytest.raises(ValidationError):
        DeleteAvailablePeriodRequest(available_period_id=period_id)


def test_available_period_id_of_64_ascii_accepted() -> None:
    request = UpsertAvailablePeriodRequest(available_period_id="a" * 64, start=NINE, end=TEN)
    assert request.available_period_id == "a" * 64


@pytest.mark.parametrize("end", [NINE, NINE - timedelta(minutes=1)])
def test_available_period_end_must_be_after_start(end: datetime) -> None:
    with pytest.raises(ValidationError, match="end must be after start"):
        UpsertAvailablePeriodRequest(available_period_id="p", start=NINE, end=end)


def test_available_period_end_after_start_compares_instants() -> None:
    # 09:30+01:00 is 08:30Z: before 09:00Z although "later" on the wall clock.
    with pytest.raises(ValidationError):
        UpsertAvailablePeriodRequest.model_validate(
            {
                "available_period_id": "p",
                "start": "2026-11-24T09:00:00Z",
                "end": {"time": "2026-11-24T09:30:00+01:00", "tzid": "Europe/Paris"},
            }
        )


def test_available_periods_response_parses_pages_and_lenient_ids() -> None:
    response = AvailablePeriodsResponse.model_validate(
        {
            "pages": {"current": 1, "total": 1},
            "available_periods": [
                {
                    "available_period_id": "qTtZdczOccgaPncGJaCiLg",
                    "start": "2026-11-24T09:00:00Z",
                    "end": "2026-11-24T10:00:00Z",
                },
                {
                    "available_period_id": "y" * 80,
                    "start": {"time": "2026-11-24T10:00:00+01:00", "tzid": "Europe/Paris"},
                    "end": {"time": "2026-11-24T11:00:00+01:00", "tzid": "Europe/Paris"},
                },
            ],
        }
    )
    first, second = response.available_periods
    assert first.start == NINE
    assert first.end == TEN
    assert isinstance(second.start, LocalizedTime)
    assert utc_instant(second.start) == NINE


def test_delete_available_period_request_one_of() -> None:
    assert dump(DeleteAvailablePeriodRequest(available_period_id="p")) == {
        "available_period_id": "p"
    }
    assert dump(DeleteAvailablePeriodRequest(delete_all=True)) == {"delete_all": True}
    with pytest.raises(ValidationError):
        DeleteAvailablePeriodRequest(available_period_id="p", delete_all=True)
    with pytest.raises(ValidationError):
        DeleteAvailablePeriodRequest(delete_all=False)
    with pytest.raises(ValidationError):
        DeleteAvailablePeriodRequest()


# --------------------------------------------------------------------------- batch


def _entry(i: int) -> BatchEntry:
    return BatchEntry(
        method="DELETE", relative_url="/v1/available_periods", data={"available_period_id": f"{i}"}
    )


def test_batch_request_at_most_50_entries() -> None:
    assert len(BatchRequest(batch=[_entry(i) for i in range(50)]).batch) == 50
    with pytest.raises(ValidationError):
        BatchRequest(batch=[_entry(i) for i in range(51)])
    with pytest.raises(ValidationError):
        BatchEntry.model_validate({"method": "GET", "relative_url": "/v1/x", "data": {}})


def test_batch_results_ok_and_errors() -> None:
    response = BatchResponse.model_validate(
        {
            "batch": [
                {"status": 202},
                {
                    "status": 422,
                    "data": {
                        "errors": {
                            "end": [{"key": "errors.invalid", "description": "end is invalid"}]
                        }
                    },
                },
                {"status": 500, "data": {"something": "else"}},
            ]
        }
    )
    ok, invalid, failed = response.batch
    assert ok.ok is True
    assert ok.errors == {}
    assert invalid.ok is False
    assert [d.key for d in invalid.errors["end"]] == ["errors.invalid"]
    assert invalid.errors["end"][0].description == "end is invalid"
    assert failed.ok is False
    assert failed.errors == {}
    assert BatchEntryResult(status=299).ok is True
    assert BatchEntryResult(status=300).ok is False


# --------------------------------------------------------------------------- availability

_AVAILABILITY_BODY: dict[str, Any] = {
    "participants": [
        {
            "members": [
                {
                    "sub": "acc_1",
                    "calendar_ids": ["cal_main"],
                    "managed_availability": True,
                }
            ],
            "required": "all",
        }
    ],
    "required_duration": {"minutes": 30},
}
_PERIODS = [{"start": "2026-11-24T09:00:00Z", "end": "2026-11-24T17:00:00Z"}]


@pytest.mark.parametrize("name", ["query_periods", "available_periods"])
def test_availability_request_accepts_old_name_and_writes_query_periods(name: str) -> None:
    request = AvailabilityRequest.model_validate({**_AVAILABILITY_BODY, name: _PERIODS})
    assert request.query_periods[0].start == NINE
    body = dump(request)
    assert body["query_periods"] == _PERIODS
    assert "available_periods" not in body
    assert body["participants"][0]["members"][0] == {
        "sub": "acc_1",
        "calendar_ids": ["cal_main"],
        "managed_availability": True,
    }


def test_availability_request_options() -> None:
    request = AvailabilityRequest.model_validate(
        {
            **_AVAILABILITY_BODY,
            "query_periods": _PERIODS,
            "start_interval": {"minutes": 15},
            "buffer": {"before": {"minutes": 5}},
            "response_format": "slots",
            "max_results": 10,
        }
    )
    body = dump(request)
    assert body["start_interval"] == {"minutes": 15}
    assert body["buffer"] == {"before": {"minutes": 5}}
    assert body["response_format"] == "slots"
    assert body["max_results"] == 10
    with pytest.raises(ValidationError):
        AvailabilityRequest.model_validate(
            {**_AVAILABILITY_BODY, "query_periods": _PERIODS, "response_format": "blocks"}
        )
    with pytest.raises(ValidationError):
        AvailabilityRequest.model_validate(
            {**_AVAILABILITY_BODY, "query_periods": _PERIODS, "required_duration": {"minutes": 0}}
        )
    with pytest.raises(ValidationError):
        AvailabilityRequest.model_validate(_AVAILABILITY_BODY)


def test_availability_response_periods() -> None:
    response = AvailabilityResponse.model_validate(
        {
            "available_periods": [
                {
                    "start": "2026-11-24T09:00:00Z",
                    "end": "2026-11-24T10:00:00Z",
                    "participants": [{"sub": "acc_1"}],
                }
            ]
        }
    )
    (result,) = response.results
    assert result.start == NINE
    assert result.duration == timedelta(hours=1)
    assert [p.sub for p in result.participants] == ["acc_1"]
    assert response.available_slots is None


def test_availability_response_slots() -> None:
    response = AvailabilityResponse.model_validate(
        {
            "available_slots": [
                {"start": "2026-11-24T09:00:00Z", "end": "2026-11-24T09:30:00Z"},
                {"start": "2026-11-24T09:30:00Z", "end": "2026-11-24T10:00:00Z"},
            ]
        }
    )
    assert [r.duration for r in response.results] == [timedelta(minutes=30)] * 2
    assert AvailabilityResponse.model_validate({}).results == []


# --------------------------------------------------------------------------- oauth and errors


def test_token_response_repr_hides_tokens() -> None:
    response = TokenResponse.model_validate(
        {
            "token_type": "bearer",
            "access_token": "ACCESS-in-repr-abc123",
            "expires_in": 3600,
            "refresh_token": "REFRESH-in-repr-def456",
            "scope": "create_calendar read_events",
            "account_id": "acc_1",
            "sub": "acc_1",
            "linking_profile": {"provider_name": "google", "profile_id": "pro_1"},
        }
    )
    for text in (repr(response), str(response)):
        assert "ACCESS-in-repr-abc123" not in text
        assert "REFRESH-in-repr-def456" not in text
        assert "create_calendar" in text
    assert response.access_token == "ACCESS-in-repr-abc123"
    assert response.linking_profile is not None
    assert response.linking_profile.profile_id == "pro_1"


def test_error_body_422() -> None:
    body = ErrorBody.model_validate(
        {
            "errors": {
                "start": [{"key": "errors.required", "description": "start must be specified"}],
                "end": [{"key": "errors.invalid"}],
            }
        }
    )
    assert body.errors["start"][0].key == "errors.required"
    assert body.errors["start"][0].description == "start must be specified"
    assert body.errors["end"][0].description is None
    assert ErrorBody.model_validate({}).errors == {}


def test_localized_all_day_boundary_is_a_date() -> None:
    event = Event.model_validate(
        {
            "calendar_id": "cal_1",
            "event_uid": "evt_1",
            "start": {"time": "2026-11-24", "tzid": "Europe/Paris"},
            "end": {"time": "2026-11-25", "tzid": "Europe/Paris"},
        }
    )
    assert event.start == date(2026, 11, 24)
    assert event.end == date(2026, 11, 25)
    assert event.is_all_day


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_time_with_no_utc_instant_is_invalid_not_a_crash(moment: str) -> None:
    """Year 1 at +14:00 (or 9999 at -14:00) lies outside what a UTC datetime can hold: a
    validation error (a 400 for a notification), never an OverflowError (a 500)."""
    with pytest.raises(ValidationError, match="outside the years 1 to 9999"):
        QueryPeriod(start=moment, end=TEN)
    with pytest.raises(ValidationError, match="outside the years 1 to 9999"):
        LocalizedTime(time=moment, tzid="Pacific/Kiritimati")
    body = json.dumps(
        {
            "notification": {"type": "change", "changes_since": moment},
            "channel": {"channel_id": "chn_1", "callback_url": "https://x/y"},
        }
    ).encode()
    with pytest.raises(MalformedNotificationError):
        parse_notification(body)
