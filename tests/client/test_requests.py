"""Request shapes of every endpoint method of ``CronofyClient``, asserted with aioresponses."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web
from aioresponses import CallbackResult, aioresponses
from pydantic import ValidationError
from yarl import URL

from cronofy_avail.client.api import USER_AGENT, CronofyClient
from cronofy_avail.core.errors import InvalidRequestError, UnexpectedResponseError
from cronofy_avail.core.models import (
    AvailabilityRequest,
    BatchEntry,
    LocalizedTime,
    ProfilesResponse,
    UpsertEventRequest,
)
from tests.support.client import (
    ACCESS_TOKEN,
    API,
    CALENDAR,
    CLIENT_SECRET,
    NEW_ACCESS_TOKEN,
    NEW_REFRESH_TOKEN,
    PROFILE,
    REFRESH_TOKEN,
    TOKEN_URL,
    FakeClock,
    bearer,
    count,
    event,
    make_client,
    only,
    sent,
    token_payload,
    url_re,
)

NINE = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
TEN = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
def m() -> Any:
    with aioresponses() as mocked:
        yield mocked


@pytest.fixture
async def client() -> AsyncIterator[CronofyClient]:
    async with make_client() as c:
        yield c


def assert_common(kwargs: dict[str, Any], token: str | None = ACCESS_TOKEN) -> None:
    headers = kwargs["headers"]
    assert "cronofy_avail/" in headers["User-Agent"]
    assert headers["User-Agent"] == USER_AGENT
    if token is None:
        assert "Authorization" not in headers
    else:
        assert headers["Authorization"] == f"Bearer {token}"
    assert kwargs["allow_redirects"] is False
    assert kwargs["timeout"] is not None


# --------------------------------------------------------------------------- identity


async def test_list_profiles(m: aioresponses, client: CronofyClient) -> None:
    m.get(f"{API}/v1/profiles", payload={"profiles": [PROFILE]})
    profiles = await client.list_profiles()
    assert [p.profile_id for p in profiles] == ["pro_n23kjnwrw2"]
    url, kwargs = only(m, "GET", "/v1/profiles")
    assert str(url) == f"{API}/v1/profiles"
    assert kwargs["params"] is None
    assert kwargs["json"] is None
    assert_common(kwargs)


async def test_userinfo(m: aioresponses, client: CronofyClient) -> None:
    m.get(
        f"{API}/v1/userinfo",
        payload={"sub": "acc_1", "cronofy.type": "account", "cronofy.data": {"profiles": []}},
    )
    info = await client.userinfo()
    assert info.sub == "acc_1"
    assert info.cronofy_type == "account"
    assert_common(only(m, "GET", "/v1/userinfo")[1])


async def test_account(m: aioresponses, client: CronofyClient) -> None:
    m.get(
        f"{API}/v1/account",
        payload={"account": {"account_id": "acc_1", "scope": "read_events create_calendar"}},
    )
    account = await client.account()
    assert account.scopes == {"read_events", "create_calendar"}
    assert_common(only(m, "GET", "/v1/account")[1])


# --------------------------------------------------------------------------- calendars


async def test_list_calendars(m: aioresponses, client: CronofyClient) -> None:
    m.get(f"{API}/v1/calendars", payload={"calendars": [CALENDAR]})
    calendars = await client.list_calendars()
    assert calendars[0].calendar_id == CALENDAR["calendar_id"]
    assert_common(only(m, "GET", "/v1/calendars")[1])


async def test_create_calendar(m: aioresponses, client: CronofyClient) -> None:
    m.post(f"{API}/v1/calendars", payload={"calendar": CALENDAR})
    calendar = await client.create_calendar("pro_1", "Availability", color="#49BED8")
    assert calendar.calendar_name == "Availability"
    _, kwargs = only(m, "POST", "/v1/calendars")
    assert kwargs["json"] == {"profile_id": "pro_1", "name": "Availability", "color": "#49BED8"}
    assert_common(kwargs)


async def test_create_calendar_without_color(m: aioresponses, client: CronofyClient) -> None:
    m.post(f"{API}/v1/calendars", payload={"calendar": CALENDAR})
    await client.create_calendar("pro_1", "Availability")
    assert only(m, "POST", "/v1/calendars")[1]["json"] == {
        "profile_id": "pro_1",
        "name": "Availability",
    }


def _calendar(**changes: Any) -> dict[str, Any]:
    return {**CALENDAR, **changes}


async def test_find_or_create_calendar_existing(m: aioresponses, client: CronofyClient) -> None:
    wanted = _calendar(calendar_id="cal_wanted", profile_id="pro_1", calendar_name="Availability")
    m.get(
        f"{API}/v1/calendars",
        payload={
            "calendars": [
                _calendar(
                    calendar_id="cal_other_profile",
                    profile_id="pro_2",
                    calendar_name="Availability",
                ),
                _calendar(
                    calendar_id="cal_deleted",
                    profile_id="pro_1",
                    calendar_name="Availability",
                    calendar_deleted=True,
                ),
                _calendar(calendar_id="cal_other_name", profile_id="pro_1", calendar_name="Work"),
                wanted,
            ]
        },
    )
    calendar, created = await client.find_or_create_calendar("pro_1", "Availability")
    assert (calendar.calendar_id, created) == ("cal_wanted", False)
    assert count(m, "POST") == 0


async def test_find_or_create_calendar_creates(m: aioresponses, client: CronofyClient) -> None:
    m.get(f"{API}/v1/calendars", payload={"calendars": [_calendar(profile_id="pro_2")]})
    m.post(
        f"{API}/v1/calendars",
        payload={"calendar": _calendar(calendar_id="cal_new", profile_id="pro_1")},
    )
    calendar, created = await client.find_or_create_calendar("pro_1", "Availability", color="#fff")
    assert (calendar.calendar_id, created) == ("cal_new", True)
    assert only(m, "POST", "/v1/calendars")[1]["json"] == {
        "profile_id": "pro_1",
        "name": "Availability",
        "color": "#fff",
    }


DUPLICATE_422 = {
    "errors": {"name": [{"key": "errors.duplicate_calendar_name", "description": "already exists"}]}
}


async def test_find_or_create_calendar_race(m: aioresponses, client: CronofyClient) -> None:
    m.get(f"{API}/v1/calendars", payload={"calendars": []})
    m.post(f"{API}/v1/calendars", status=422, payload=DUPLICATE_422)
    m.get(
        f"{API}/v1/calendars",
        payload={"calendars": [_calendar(calendar_id="cal_raced", profile_id="pro_1")]},
    )
    calendar, created = await client.find_or_create_calendar("pro_1", "Availability")
    assert (calendar.calendar_id, created) == ("cal_raced", False)
    assert count(m, "GET", "/v1/calendars") == 2
    assert count(m, "POST", "/v1/calendars") == 1


async def test_find_or_create_calendar_other_422_raised(
    m: aioresponses, client: CronofyClient
) -> None:
    m.get(f"{API}/v1/calendars", payload={"calendars": []}, repeat=True)
    m.post(
        f"{API}/v1/calendars",
        status=422,
        payload={"errors": {"profile_id": [{"key": "errors.not_supported"}]}},
    )
    with pytest.raises(InvalidRequestError) as info:
        await client.find_or_create_calendar("pro_1", "Availability")
    assert info.value.error_keys("profile_id") == ["errors.not_supported"]
    assert count(m, "GET", "/v1/calendars") == 1


async def test_find_or_create_calendar_duplicate_but_still_missing(
    m: aioresponses, client: CronofyClient
) -> None:
    m.get(f"{API}/v1/calendars", payload={"calendars": []}, repeat=True)
    m.post(f"{API}/v1/calendars", status=422, payload=DUPLICATE_422)
    with pytest.raises(InvalidRequestError):
        await client.find_or_create_calendar("pro_1", "Availability")


# --------------------------------------------------------------------------- channels

CHANNEL = {
    "channel_id": "chn_1",
    "callback_url": "https://example.com/hook",
    "filters": {"calendar_ids": ["cal_sub"], "only_managed": False},
}


async def test_create_channel_with_filters(m: aioresponses, client: CronofyClient) -> None:
    m.post(f"{API}/v1/channels", payload={"channel": CHANNEL})
    channel = await client.create_channel(
        "https://example.com/hook", calendar_ids=["cal_sub"], only_managed=False
    )
    assert channel.channel_id == "chn_1"
    _, kwargs = only(m, "POST", "/v1/channels")
    assert kwargs["json"] == {
        "callback_url": "https://example.com/hook",
        "filters": {"calendar_ids": ["cal_sub"], "only_managed": False},
    }
    assert_common(kwargs)


async def test_create_channel_without_filters(m: aioresponses, client: CronofyClient) -> None:
    m.post(f"{API}/v1/channels", payload={"channel": {**CHANNEL, "filters": {}}})
    await client.create_channel("https://example.com/hook")
    assert only(m, "POST", "/v1/channels")[1]["json"] == {
        "callback_url": "https://example.com/hook"
    }


async def test_list_channels(m: aioresponses, client: CronofyClient) -> None:
    m.get(f"{API}/v1/channels", payload={"channels": [CHANNEL, {**CHANNEL, "channel_id": "c2"}]})
    assert [c.channel_id for c in await client.list_channels()] == ["chn_1", "c2"]
    assert_common(only(m, "GET", "/v1/channels")[1])


async def test_close_channel(m: aioresponses, client: CronofyClient) -> None:
    m.delete(f"{API}/v1/channels/chn_1", status=202, body=b"")
    await client.close_channel("chn_1")
    _, kwargs = only(m, "DELETE", "/v1/channels/chn_1")
    assert kwargs["json"] is None
    assert_common(kwargs)


# --------------------------------------------------------------------------- events


def _events_page(*uids: str) -> dict[str, Any]:
    return {"pages": {"current": 1, "total": 1}, "events": [event(uid) for uid in uids]}


async def test_read_events_query_encoding(m: aioresponses, client: CronofyClient) -> None:
    m.get(url_re("/v1/events"), payload=_events_page("a", "b"))
    events = await client.read_events(
        tzid="Europe/London",
        from_=date(2026, 11, 1),
        to=date(2026, 12, 1),
        last_modified=datetime(2026, 11, 24, 10, 0, 5, tzinfo=timezone(timedelta(hours=1))),
        include_deleted=True,
        include_moved=False,
        include_managed=True,
        only_managed=False,
        calendar_ids=["cal_a@group.calendar.google.com", "cal_b"],
        localized_times=True,
        include_geo=False,
    )
    assert [e.event_uid for e in events] == ["a", "b"]
    _, kwargs = only(m, "GET", "/v1/events")
    assert kwargs["params"] == [
        ("tzid", "Europe/London"),
        ("from", "2026-11-01"),
        ("to", "2026-12-01"),
        ("last_modified", "2026-11-24T09:00:05Z"),
        ("include_deleted", "true"),
        ("include_moved", "false"),
        ("include_managed", "true"),
        ("only_managed", "false"),
        ("calendar_ids[]", "cal_a@group.calendar.google.com"),
        ("calendar_ids[]", "cal_b"),
        ("localized_times", "true"),
        ("include_geo", "false"),
    ]
    assert kwargs["json"] is None
    assert_common(kwargs)


async def test_read_events_omits_unset_parameters(m: aioresponses, client: CronofyClient) -> None:
    m.get(url_re("/v1/events"), payload=_events_page())
    assert await client.read_events(tzid="UTC") == []
    url, kwargs = only(m, "GET", "/v1/events")
    assert kwargs["params"] == [("tzid", "UTC")]
    assert url.query == {"tzid": "UTC"}


async def test_iter_events_yields_each_event(m: aioresponses, client: CronofyClient) -> None:
    m.get(url_re("/v1/events"), payload=_events_page("x", "y", "z"))
    assert [e.event_uid async for e in client.iter_events(tzid="UTC")] == ["x", "y", "z"]


async def test_read_changed_events(m: aioresponses, client: CronofyClient) -> None:
    m.get(url_re("/v1/events"), payload=_events_page("moved"))
    events = await client.read_changed_events(
        tzid="Europe/Paris", calendar_id="cal_sub", changes_since=NINE
    )
    assert [e.event_uid for e in events] == ["moved"]
    url, kwargs = only(m, "GET", "/v1/events")
    assert kwargs["params"] == [
        ("tzid", "Europe/Paris"),
        ("last_modified", "2026-11-24T09:00:00Z"),
        ("include_deleted", "true"),
        ("include_moved", "true"),
        ("calendar_ids[]", "cal_sub"),
    ]
    assert url.query.getall("calendar_ids[]") == ["cal_sub"]


async def test_last_modified_must_be_aware(m: aioresponses, client: CronofyClient) -> None:
    with pytest.raises(ValueError, match="naive"):
        await client.read_events(tzid="UTC", last_modified=datetime(2026, 11, 24, 9, 0))
    assert sent(m) == []


async def test_upsert_event(m: aioresponses, client: CronofyClient) -> None:
    m.post(f"{API}/v1/calendars/cal_sub/events", status=202)
    request = UpsertEventRequest(
        event_id="seed-1", summary="Free", start=NINE, end=TEN, transparency="transparent"
    )
    await client.upsert_event("cal_sub", request)
    _, kwargs = only(m, "POST", "/v1/calendars/cal_sub/events")
    assert kwargs["json"] == {
        "event_id": "seed-1",
        "summary": "Free",
        "start": "2026-11-24T09:00:00Z",
        "end": "2026-11-24T10:00:00Z",
        "transparency": "transparent",
    }
    assert_common(kwargs)


async def test_delete_event(m: aioresponses, client: CronofyClient) -> None:
    m.delete(f"{API}/v1/calendars/cal_sub/events", status=202)
    await client.delete_event("cal_sub", "seed-1")
    _, kwargs = only(m, "DELETE", "/v1/calendars/cal_sub/events")
    assert kwargs["json"] == {"event_id": "seed-1"}
    assert_common(kwargs)


# --------------------------------------------------------------------------- available periods


async def test_upsert_available_period(m: aioresponses, client: CronofyClient) -> None:
    m.post(f"{API}/v1/available_periods", status=202)
    await client.upsert_available_period(
        "ap_1", datetime(2026, 11, 24, 10, 0, tzinfo=timezone(timedelta(hours=1))), TEN
    )
    _, kwargs = only(m, "POST", "/v1/available_periods")
    assert kwargs["json"] == {
        "available_period_id": "ap_1",
        "start": "2026-11-24T09:00:00Z",
        "end": "2026-11-24T10:00:00Z",
    }
    assert_common(kwargs)


async def test_upsert_available_period_localized(m: aioresponses, client: CronofyClient) -> None:
    m.post(f"{API}/v1/available_periods", status=202)
    start = LocalizedTime(
        time=datetime(2026, 11, 24, 10, 0, tzinfo=timezone(timedelta(hours=1))), tzid="Europe/Paris"
    )
    end = LocalizedTime(
        time=datetime(2026, 11, 24, 11, 0, tzinfo=timezone(timedelta(hours=1))), tzid="Europe/Paris"
    )
    await client.upsert_available_period("ap_1", start, end)
    assert only(m, "POST", "/v1/available_periods")[1]["json"]["start"] == {
        "time": "2026-11-24T10:00:00+01:00",
        "tzid": "Europe/Paris",
    }


@pytest.mark.parametrize(
    ("period_id", "start", "end"),
    [("x" * 65, NINE, TEN), ("période", NINE, TEN), ("ok", TEN, NINE), ("ok", NINE, NINE)],
)
async def test_upsert_available_period_invalid_never_sent(
    m: aioresponses, client: CronofyClient, period_id: str, start: datetime, end: datetime
) -> None:
    with pytest.raises(ValidationError):
        await client.upsert_available_period(period_id, start, end)
    assert sent(m) == []


def _periods_page(current: int, total: int, ids: list[str], next_page: str | None) -> Any:
    pages: dict[str, Any] = {"current": current, "total": total}
    if next_page:
        pages["next_page"] = next_page
    return {
        "pages": pages,
        "available_periods": [
            {
                "available_period_id": i,
                "start": "2026-11-24T09:00:00Z",
                "end": "2026-11-24T10:00:00Z",
            }
            for i in ids
        ],
    }


async def test_list_available_periods_multi_page(m: aioresponses, client: CronofyClient) -> None:
    page2 = f"{API}/v1/available_periods/pages/2?token=p2"
    page3 = f"{API}/v1/available_periods/pages/3?token=p3"
    m.get(
        f"{API}/v1/available_periods?tzid=Europe/London&from=2026-11-01&to=2026-12-01"
        "&localized_times=false",
        payload=_periods_page(1, 3, ["a", "b"], page2),
    )
    m.get(page2, payload=_periods_page(2, 3, ["c"], page3))
    m.get(page3, payload=_periods_page(3, 3, ["d"], None))
    periods = await client.list_available_periods(
        tzid="Europe/London",
        from_=date(2026, 11, 1),
        to=date(2026, 12, 1),
        localized_times=False,
    )
    assert [p.available_period_id for p in periods] == ["a", "b", "c", "d"]
    assert periods[0].start == NINE
    first = only(m, "GET", "/v1/available_periods")[1]
    assert first["params"] == [
        ("tzid", "Europe/London"),
        ("from", "2026-11-01"),
        ("to", "2026-12-01"),
        ("localized_times", "false"),
    ]
    for path in ("/v1/available_periods/pages/2", "/v1/available_periods/pages/3"):
        _url, kwargs = only(m, "GET", path)
        assert kwargs["params"] is None
        assert_common(kwargs)
    assert len(sent(m)) == 3


async def test_list_available_periods_without_range(m: aioresponses, client: CronofyClient) -> None:
    m.get(f"{API}/v1/available_periods", payload=_periods_page(1, 1, ["a"], None))
    assert [p.available_period_id for p in await client.list_available_periods()] == ["a"]


async def test_list_available_periods_range_needs_tzid(
    m: aioresponses, client: CronofyClient
) -> None:
    with pytest.raises(ValueError, match="tzid"):
        await client.list_available_periods(from_=date(2026, 11, 1))
    assert sent(m) == []


async def test_delete_available_period(m: aioresponses, client: CronofyClient) -> None:
    m.delete(f"{API}/v1/available_periods", status=202)
    assert await client.delete_available_period("ap_1") is True
    _, kwargs = only(m, "DELETE", "/v1/available_periods")
    assert kwargs["json"] == {"available_period_id": "ap_1"}
    assert_common(kwargs)


async def test_delete_available_period_404_is_already_gone(
    m: aioresponses, client: CronofyClient
) -> None:
    m.delete(f"{API}/v1/available_periods", status=404)
    assert await client.delete_available_period("ap_gone") is False
    assert count(m) == 1


async def test_delete_all_available_periods(m: aioresponses, client: CronofyClient) -> None:
    m.delete(f"{API}/v1/available_periods", status=202)
    await client.delete_all_available_periods()
    _, kwargs = only(m, "DELETE", "/v1/available_periods")
    assert kwargs["json"] == {"delete_all": True}
    assert_common(kwargs)


# --------------------------------------------------------------------------- batch


def _entries(n: int) -> list[BatchEntry]:
    return [
        BatchEntry(
            method="POST" if i % 2 else "DELETE",
            relative_url="/v1/available_periods",
            data={"available_period_id": f"ap_{i}"},
        )
        for i in range(n)
    ]


async def test_batch_splits_into_chunks_of_50(m: aioresponses, client: CronofyClient) -> None:
    bodies: list[Any] = []

    def answer(url: URL, **kwargs: Any) -> CallbackResult:
        body = kwargs["json"]
        bodies.append(body)
        # Echo each entry's index in the status so the order of results is checkable.
        results = [
            {"status": 202, "data": {"id": entry["data"]["available_period_id"]}}
            for entry in body["batch"]
        ]
        return CallbackResult(status=207, payload={"batch": results})

    m.post(f"{API}/v1/batch", callback=answer, repeat=True)
    results = await client.batch(_entries(120))
    assert [len(b["batch"]) for b in bodies] == [50, 50, 20]
    assert bodies[0]["batch"][0] == {
        "method": "DELETE",
        "relative_url": "/v1/available_periods",
        "data": {"available_period_id": "ap_0"},
    }
    assert bodies[2]["batch"][-1]["data"] == {"available_period_id": "ap_119"}
    assert [r.data for r in results] == [{"id": f"ap_{i}"} for i in range(120)]
    assert all(r.ok for r in results)
    assert count(m, "POST", "/v1/batch") == 3
    for _, _, kwargs in sent(m):
        assert_common(kwargs)


async def test_batch_empty_sends_nothing(m: aioresponses, client: CronofyClient) -> None:
    assert await client.batch([]) == []
    assert sent(m) == []


async def test_batch_keeps_per_entry_failures(m: aioresponses, client: CronofyClient) -> None:
    m.post(
        f"{API}/v1/batch",
        status=207,
        payload={
            "batch": [
                {"status": 202},
                {"status": 422, "data": {"errors": {"end": [{"key": "errors.invalid"}]}}},
            ]
        },
    )
    ok, bad = await client.batch(_entries(2))
    assert ok.ok
    assert not bad.ok
    assert [d.key for d in bad.errors["end"]] == ["errors.invalid"]


async def test_batch_result_count_mismatch(m: aioresponses, client: CronofyClient) -> None:
    m.post(f"{API}/v1/batch", status=207, payload={"batch": [{"status": 202}] * 49})
    with pytest.raises(UnexpectedResponseError, match="49 results for 50 entries"):
        await client.batch(_entries(60))
    assert count(m) == 1


# --------------------------------------------------------------------------- availability

AVAILABILITY = AvailabilityRequest.model_validate(
    {
        "participants": [
            {
                "members": [{"sub": "acc_1", "managed_availability": True, "calendar_ids": []}],
                "required": "all",
            }
        ],
        "required_duration": {"minutes": 30},
        "available_periods": [{"start": "2026-11-24T09:00:00Z", "end": "2026-11-24T17:00:00Z"}],
    }
)


async def test_availability_with_access_token(m: aioresponses, client: CronofyClient) -> None:
    m.post(
        f"{API}/v1/availability",
        payload={
            "available_periods": [
                {
                    "start": "2026-11-24T09:00:00Z",
                    "end": "2026-11-24T10:00:00Z",
                    "participants": [{"sub": "acc_1"}],
                }
            ]
        },
    )
    response = await client.availability(AVAILABILITY)
    assert response.results[0].start == NINE
    _, kwargs = only(m, "POST", "/v1/availability")
    assert kwargs["json"] == {
        "participants": [
            {
                "members": [{"sub": "acc_1", "calendar_ids": [], "managed_availability": True}],
                "required": "all",
            }
        ],
        "required_duration": {"minutes": 30},
        "query_periods": [{"start": "2026-11-24T09:00:00Z", "end": "2026-11-24T17:00:00Z"}],
    }
    assert_common(kwargs, token=ACCESS_TOKEN)


async def test_availability_with_client_secret(m: aioresponses, client: CronofyClient) -> None:
    m.post(f"{API}/v1/availability", payload={"available_slots": []})
    response = await client.availability(AVAILABILITY, use_client_secret=True)
    assert response.results == []
    assert_common(only(m, "POST", "/v1/availability")[1], token=CLIENT_SECRET)


async def test_availability_with_client_secret_needs_one(m: aioresponses) -> None:
    async with make_client(client_secret=None) as c:
        with pytest.raises(Exception, match="client secret"):
            await c.availability(AVAILABILITY, use_client_secret=True)
    assert sent(m) == []


# --------------------------------------------------------------------------- oauth


def _auth_query(url: str) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", parse_qs(parts.query)


@pytest.mark.parametrize(
    ("dc", "host"),
    [
        ("us", "https://app.cronofy.com"),
        ("uk", "https://app-uk.cronofy.com"),
        ("sg", "https://app-sg.cronofy.com"),
    ],
)
def test_authorization_url_per_data_center(dc: str, host: str) -> None:
    c = make_client(data_center=dc, client_id="my-client")
    base, query = _auth_query(c.authorization_url("https://example.com/cb", state="xyz"))
    assert base == f"{host}/oauth/authorize"
    assert query == {
        "response_type": ["code"],
        "client_id": ["my-client"],
        "redirect_uri": ["https://example.com/cb"],
        "scope": ["read_account list_calendars create_calendar read_events"],
        "state": ["xyz"],
    }


def test_authorization_url_with_override_and_scopes() -> None:
    c = make_client(api_base_url="http://127.0.0.1:8321", client_id="cid")
    base, query = _auth_query(
        c.authorization_url(
            "http://127.0.0.1/cb", scope=["read_events", "create_calendar", "read_free_busy"]
        )
    )
    assert base == "http://127.0.0.1:8321/oauth/authorize"
    assert query["scope"] == ["read_events create_calendar read_free_busy"]
    assert "state" not in query
    for secret in (CLIENT_SECRET, ACCESS_TOKEN, REFRESH_TOKEN):
        assert secret not in c.authorization_url("http://127.0.0.1/cb")


def test_authorization_url_needs_client_id() -> None:
    with pytest.raises(Exception, match="client_id"):
        make_client(client_id=None).authorization_url("https://example.com/cb")


async def test_exchange_code(m: aioresponses) -> None:
    seen: list[Any] = []
    clock = FakeClock()
    c = make_client(clock, access_token=None, refresh_token=None, on_tokens=seen.append)
    m.post(
        TOKEN_URL,
        payload={
            **token_payload(),
            "account_id": "acc_1",
            "sub": "acc_1",
            "linking_profile": {"provider_name": "google", "profile_id": "pro_1"},
        },
    )
    async with c:
        response = await c.exchange_code("the-code", "https://example.com/cb")
    assert response.account_id == "acc_1"
    _, kwargs = only(m, "POST", "/oauth/token")
    assert kwargs["json"] == {
        "client_id": c.client_id,
        "client_secret": CLIENT_SECRET,
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": "https://example.com/cb",
    }
    assert_common(kwargs, token=None)
    assert c.tokens is not None
    assert c.tokens.access_token == NEW_ACCESS_TOKEN
    assert c.tokens.refresh_token == NEW_REFRESH_TOKEN
    assert c.tokens.expires_at == clock.wall() + 3600
    assert seen == [c.tokens]


async def test_refresh_access_token_request(m: aioresponses, client: CronofyClient) -> None:
    m.post(TOKEN_URL, payload=token_payload())
    await client.refresh_access_token()
    _, kwargs = only(m, "POST", "/oauth/token")
    assert kwargs["json"] == {
        "client_id": client.client_id,
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": REFRESH_TOKEN,
    }
    assert bearer(kwargs) is None
    assert_common(kwargs, token=None)
    assert client.tokens is not None
    assert client.tokens.access_token == NEW_ACCESS_TOKEN


# --------------------------------------------------------------------------- sessions


async def test_injected_session_is_used_and_left_open(m: aioresponses) -> None:
    m.get(f"{API}/v1/profiles", payload={"profiles": []})
    async with aiohttp.ClientSession() as session:
        async with make_client(session=session) as c:
            await c.list_profiles()
        assert not session.closed


async def test_owned_session_is_closed(m: aioresponses) -> None:
    m.get(f"{API}/v1/profiles", payload={"profiles": []})
    c = make_client()
    await c.list_profiles()
    session = c._session
    assert session is not None
    await c.close()
    assert session.closed


# --------------------------------------------------------------------------- on the real wire


class _Recorded:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []


@pytest.fixture
async def local_api() -> AsyncIterator[tuple[str, _Recorded]]:
    """A tiny real HTTP server on 127.0.0.1 that records what aiohttp actually sent."""
    recorded = _Recorded()

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        recorded.requests.append((request.method, request.raw_path, dict(request.headers), body))
        if request.path == "/v1/redirect":
            raise web.HTTPFound("/v1/profiles")
        if request.path == "/v1/events":
            return web.json_response({"pages": {"current": 1, "total": 1}, "events": []})
        if request.path == "/v1/channels":
            return web.json_response({"channel": CHANNEL})
        return web.json_response({"profiles": []})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}", recorded
    finally:
        await runner.cleanup()


async def test_wire_query_headers_and_body(local_api: tuple[str, _Recorded]) -> None:
    base, recorded = local_api
    async with make_client(api_base_url=base) as c:
        await c.read_events(
            tzid="Europe/London",
            include_deleted=True,
            include_moved=False,
            calendar_ids=["cal_a", "cal_b"],
            last_modified=NINE,
        )
        await c.create_channel("https://example.com/hook", calendar_ids=["cal_a"])
    (get_method, get_path, get_headers, _), (post_method, _, post_headers, post_body) = (
        recorded.requests
    )
    assert get_method == "GET"
    assert get_path == (
        "/v1/events?tzid=Europe/London&last_modified=2026-11-24T09:00:00Z"
        "&include_deleted=true&include_moved=false"
        "&calendar_ids%5B%5D=cal_a&calendar_ids%5B%5D=cal_b"
    )
    assert get_headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert get_headers["User-Agent"].startswith("cronofy_avail/")
    assert post_method == "POST"
    assert post_headers["Content-Type"].startswith("application/json")
    assert json.loads(post_body) == {
        "callback_url": "https://example.com/hook",
        "filters": {"calendar_ids": ["cal_a"]},
    }


async def test_wire_redirect_not_followed(local_api: tuple[str, _Recorded]) -> None:
    base, recorded = local_api
    async with make_client(api_base_url=base) as c:
        with pytest.raises(UnexpectedResponseError) as info:
            await c._call("GET", "/v1/redirect", ProfilesResponse)
    assert info.value.status == 302
    assert [path for _, path, _, _ in recorded.requests] == ["/v1/redirect"]
