"""Requests and responses from Cronofy's official SDKs' own test suites and docs examples.

Each case names its source: repository, path inside it, and the test (the package and version
it was read from: ``pycronofy`` 2.1.1 from PyPI, ``cronofy`` 3.8.4 from npm, both MIT
licensed). Request bodies and response fixtures are copied as the SDK tests hold them; only
ids the emulator must recognise are replaced by ``$placeholders`` (``$calendar_id``,
``$sub``, ...), filled from the seeded world of ``conftest.py``.

Left out on purpose, and why:

* cronofy-node ``test/index.spec.js`` "returns account information": its mocked
  ``/v1/account`` reply is a userinfo body (``sub``, ``cronofy.type``), not an account; the
  docs and pycronofy's ``test_account`` agree on ``{"account": {...}}``, which is replayed.
* pycronofy ``test_client.py`` ``test_upsert_event``: its mock answers 200 with
  ``{"example": 1}``; ``test_upsert_event_with_tzid`` answers 202 with no body, as the docs
  say, and is replayed.
* Endpoints the emulator does not serve (smart invites, availability rules, real-time
  scheduling, sequenced availability, bulk delete ``DELETE /v1/events``, free/busy,
  application calendars, element tokens): outside the pattern this project teaches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PYCRONOFY = "cronofy/pycronofy"
NODE = "cronofy/cronofy-node"


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    """Repository, path and test name (or the docs page)."""
    method: str
    path: str
    status: int
    response: Any = None
    """The fixture's response body (``None``: no body)."""
    query: dict[str, Any] | None = None
    body: Any = None
    bearer: str = "access_token"
    """``access_token`` or ``client_secret`` (availability accepts both)."""
    same_values: tuple[str, ...] = ()
    """Dotted paths whose values must equal the fixture's, not only their shape."""
    aliases: dict[str, str] = field(default_factory=dict)
    """A fixture's old field spelling → today's (see the note on the case)."""
    setup: str | None = None
    """A named preparation in ``conftest.py`` run before the request."""


# ---------------------------------------------------------------------- pycronofy fixtures

TEST_EVENT = {
    "event_id": "test-1",
    "summary": "Test Event",
    "description": "Talk about how awesome cats are.",
    "start": "2014-10-01T08:00:00Z",
    "end": "2014-10-01T09:00:00Z",
    "tzid": "Etc/UTC",
    "location": {"description": "Location!"},
}

TEST_CALENDAR = {
    "provider_name": "google",
    "profile_id": "test_profile_google",
    "profile_name": "test-google@gmail.com",
    "calendar_id": "cal_test_google",
    "calendar_name": "test-calendar",
    "calendar_readonly": False,
    "calendar_deleted": False,
    "calendar_primary": False,
    "permission_level": "unrestricted",
}

PERIODS_2017 = [
    {"start": "2017-01-03T09:00:00Z", "end": "2017-01-03T18:00:00Z"},
    {"start": "2017-01-04T09:00:00Z", "end": "2017-01-04T18:00:00Z"},
]

TEST_AVAILABLITY_RESPONSE = {
    "available_periods": [
        {
            "start": "2017-01-03T09:00:00Z",
            "end": "2017-01-03T11:00:00Z",
            "participants": [{"sub": "acc_567236000909002"}, {"sub": "acc_678347111010113"}],
        }
    ]
}

TEST_AVAILABLITY_RESPONSE_SLOTS = {
    "available_slots": [
        {
            "start": "2017-01-03T09:00:00Z",
            "end": "2017-01-03T10:00:00Z",
            "participants": [{"sub": "acc_567236000909002"}, {"sub": "acc_678347111010113"}],
        }
    ]
}

PAGINATION_EVENT = {
    "calendar_id": "cal_U9uuErStTG@EAAAB_IsAsykA2DBTWqQTf-f0kJw",
    "event_uid": "evt_external_54008b1a4a41730f8d5c6037",
    "summary": "Company Retreat",
    "description": "",
    "start": "2014-09-06",
    "end": "2014-09-08",
    "deleted": False,
    "location": {"description": "Beach"},
    "participation_status": "needs_action",
    "transparency": "opaque",
    "event_status": "confirmed",
    "categories": [],
    "attendees": [
        {
            "email": "example@cronofy.com",
            "display_name": "Example Person",
            "status": "needs_action",
        }
    ],
    "created": "2014-09-01T08:00:01Z",
    "updated": "2014-09-01T09:24:16Z",
}

# ---------------------------------------------------------------------- cronofy-node fixtures

NODE_USERINFO = {
    "sub": "acc_5700a00eb0ccd07000000000",
    "email": "janed@company.com",
    "name": "Jane Doe",
    "zoneinfo": "Europe/London",
    "cronofy.type": "account",
    "cronofy.data": {
        "authorization": {"scope": "read_write"},
        "profiles": [
            {
                "provider_name": "google",
                "profile_id": "pro_n23kjnwrw2",
                "profile_name": "example@cronofy.com",
            }
        ],
    },
}

NODE_READ_EVENTS = {
    "pages": {
        "current": 1,
        "total": 2,
        "next_page": "https://api.cronofy.com/v1/events/pages/08a07b034306679e",
    },
    "events": [
        {
            "calendar_id": "cal_U9uuErStTG@EAAAB_IsAsykA2DBTWqQTf-f0kJw",
            "event_uid": "evt_external_54008b1a4a41730f8d5c6037",
            "summary": "Company Retreat",
            "description": "",
            "start": "2014-09-06",
            "end": "2014-09-08",
            "deleted": False,
            "created": "2014-09-01T08:00:01Z",
            "updated": "2014-09-01T09:24:16Z",
            "location": {"description": "Beach"},
            "participation_status": "needs_action",
            "attendees": [
                {
                    "email": "example@cronofy.com",
                    "display_name": "Example Person",
                    "status": "needs_action",
                }
            ],
            "organizer": {"email": "example@cronofy.com", "display_name": "Example Person"},
            "transparency": "opaque",
            "status": "confirmed",
            "categories": [],
            "recurring": False,
            "options": {"delete": True, "update": True, "change_participation_status": True},
        }
    ],
}

NODE_BATCH_REQUEST = {
    "batch": [
        {
            "method": "DELETE",
            "relative_url": "/v1/calendars/$calendar_id/events",
            "data": {"event_id": "456"},
        },
        {
            "method": "POST",
            "relative_url": "/v1/calendars/$calendar_id/events",
            "data": {
                "event_id": "qTtZdczOccgaPncGJaCiLg",
                "description": "Discuss plans for the next quarter.",
                "start": "2014-08-05T15:30:00Z",
                "end": "2014-08-05T17:00:00Z",
                "location": {"description": "Board room"},
            },
        },
    ]
}

NODE_BATCH_RESPONSE = {
    "batch": [
        {"status": 202},
        {
            "status": 422,
            "data": {
                "errors": {
                    "summary": [
                        {"key": "errors.required", "description": "summary must be specified"}
                    ]
                }
            },
        },
    ]
}

TWO_MEMBERS = [{"sub": "$sub"}, {"sub": "$sub2"}]

CASES: list[Case] = [
    # ---------------------------------------------------------------- identity
    Case(
        id="account",
        source=f"{PYCRONOFY} pycronofy/tests/test_client.py test_account",
        method="GET",
        path="/v1/account",
        status=200,
        response={
            "account": {
                "account_id": "acc_567236000909002",
                "email": "janed@company.com",
                "name": "Jane Doe",
                "scope": "read_events create_event delete_event",
                "default_tzid": "Europe/London",
            }
        },
    ),
    Case(
        id="userinfo-pycronofy",
        source=f"{PYCRONOFY} pycronofy/tests/test_client.py test_userinfo",
        method="GET",
        path="/v1/userinfo",
        status=200,
        response={"sub": "acc_5700a00eb0ccd07000000000", "cronofy.type": "userinfo"},
    ),
    Case(
        id="userinfo-node",
        source=f"{NODE} test/index.spec.js 'returns userinfo'",
        method="GET",
        path="/v1/userinfo",
        status=200,
        response=NODE_USERINFO,
    ),
    # ---------------------------------------------------------------- calendars
    Case(
        id="create-calendar",
        source=f"{PYCRONOFY} pycronofy/tests/test_client.py test_create_calendar",
        method="POST",
        path="/v1/calendars",
        body={"profile_id": "$profile_id", "name": "test-calendar"},
        status=200,
        response={"calendar": TEST_CALENDAR},
    ),
    Case(
        id="create-calendar-duplicate",
        source=(
            f"{PYCRONOFY} pycronofy/tests/test_client.py "
            "test_create_calendar_with_duplicates_errors"
        ),
        method="POST",
        path="/v1/calendars",
        body={"profile_id": "$profile_id", "name": "test-calendar"},
        status=422,
        response={
            "errors": {
                "name": [
                    {
                        "key": "errors.duplicate_calendar_name",
                        "description": (
                            "A calendar with this name already exists and the provider does "
                            "not allow duplicates"
                        ),
                    }
                ]
            }
        },
        same_values=("errors.name.0.key",),
        setup="calendar named test-calendar",
    ),
    Case(
        id="list-calendars",
        source=(
            f"{PYCRONOFY} pycronofy/tests/test_client.py "
            "test_create_calendar_with_duplicate_no_issues (TEST_CALENDAR_LIST)"
        ),
        method="GET",
        path="/v1/calendars",
        status=200,
        response={"calendars": [TEST_CALENDAR]},
    ),
    Case(
        id="profiles",
        source="Cronofy docs (as recorded in docs/api-contract.md §2, List profiles example)",
        method="GET",
        path="/v1/profiles",
        status=200,
        response={
            "profiles": [
                {
                    "provider_name": "google",
                    "provider_service": "gsuite",
                    "profile_id": "pro_n23kjnwrw2",
                    "profile_name": "jane@example.com",
                    "profile_connected": True,
                    "profile_initial_sync_required": False,
                }
            ]
        },
    ),
    # ---------------------------------------------------------------- channels
    Case(
        id="create-channel",
        source=f"{PYCRONOFY} pycronofy/tests/test_client.py test_create_notification_channel",
        method="POST",
        path="/v1/channels",
        body={"callback_url": "$callback_url", "filters": {"calendar_ids": ["$calendar_id"]}},
        status=200,
        response={
            "channel": {"channel_id": "chn_123example", "callback_url": "http://example.com"}
        },
    ),
    Case(
        id="create-channel-only-managed",
        source=(
            f"{PYCRONOFY} pycronofy/tests/test_client.py "
            "test_create_notification_channel_only_managed"
        ),
        method="POST",
        path="/v1/channels",
        body={
            "callback_url": "$callback_url",
            "filters": {"calendar_ids": ["$calendar_id"], "only_managed": True},
        },
        status=200,
        response={
            "channel": {
                "channel_id": "chn_123example",
                "callback_url": "http://example.com",
                "filters": {"calendar_ids": ["1"], "only_managed": True},
            }
        },
        same_values=("channel.filters.only_managed",),
    ),
    # ---------------------------------------------------------------- events
    Case(
        id="upsert-event-with-tzid",
        source=f"{PYCRONOFY} pycronofy/tests/test_client.py test_upsert_event_with_tzid",
        method="POST",
        path="/v1/calendars/$calendar_id/events",
        body={
            "event_id": "test-1",
            "summary": "Test Event",
            "description": "Talk about how awesome cats are.",
            "start": {"time": "2014-10-01T08:00:00Z", "tzid": "Europe/London"},
            "end": {"time": "2014-10-01T09:00:00Z", "tzid": "Europe/London"},
            "location": {"description": "Location!"},
        },
        status=202,
    ),
    Case(
        id="upsert-event",
        source=f"{PYCRONOFY} pycronofy/tests/test_client.py TEST_EVENT (test_upsert_event)",
        method="POST",
        path="/v1/calendars/$calendar_id/events",
        body=TEST_EVENT,
        status=202,
    ),
    Case(
        id="delete-event",
        source=f"{PYCRONOFY} pycronofy/tests/test_client.py test_delete_event",
        method="DELETE",
        path="/v1/calendars/$calendar_id/events",
        body={"event_id": "example_event_id"},
        status=202,
    ),
    Case(
        id="delete-external-event",
        source=f"{PYCRONOFY} pycronofy/tests/test_client.py test_delete_external_event",
        method="DELETE",
        path="/v1/calendars/$calendar_id/events",
        body={"event_uid": "$event_uid"},
        status=202,
    ),
    Case(
        id="read-events-node",
        source=f"{NODE} test/index.spec.js 'returns read events information'",
        method="GET",
        path="/v1/events",
        query={"calendar_ids[]": "$calendar_id", "include_deleted": "true", "tzid": "Etc/UTC"},
        status=200,
        response=NODE_READ_EVENTS,
    ),
    Case(
        id="read-events-pycronofy-page-one",
        source=f"{PYCRONOFY} pycronofy/tests/test_pagination.py TEST_DATA_PAGE_ONE",
        method="GET",
        path="/v1/events",
        query={"tzid": "Etc/UTC"},
        status=200,
        response={
            "pages": {
                "current": 1,
                "total": 2,
                "next_page": "https://api.cronofy.com/v1/events/pages/08a07b034306679e",
            },
            "events": [PAGINATION_EVENT],
        },
        # pycronofy's older fixture spells the event status "event_status"; Cronofy's docs
        # and cronofy-node's newer fixture say "status" (the client accepts both).
        aliases={"event_status": "status"},
    ),
    # ---------------------------------------------------------------- batch
    Case(
        id="batch-pycronofy",
        source=f"{PYCRONOFY} pycronofy/tests/test_batch.py test_batch",
        method="POST",
        path="/v1/batch",
        body={
            "batch": [
                {
                    "method": "DELETE",
                    "relative_url": "/v1/calendars/$calendar_id/events",
                    "data": {"event_id": "example_event_id"},
                },
                {
                    "method": "DELETE",
                    "relative_url": "/v1/calendars/$calendar_id/events",
                    "data": {"event_uid": "external_event_id"},
                },
                {
                    "method": "POST",
                    "relative_url": "/v1/calendars/$calendar_id/events",
                    "data": TEST_EVENT,
                },
            ]
        },
        status=207,
        response={"batch": [{"status": 202}, {"status": 202}, {"status": 202}]},
        same_values=("batch.0.status", "batch.1.status", "batch.2.status"),
    ),
    Case(
        id="batch-node",
        source=f"{NODE} test/index.spec.js 'batches requests'",
        method="POST",
        path="/v1/batch",
        body=NODE_BATCH_REQUEST,
        status=207,
        response=NODE_BATCH_RESPONSE,
        same_values=("batch.0.status", "batch.1.status", "batch.1.data.errors.summary.0.key"),
    ),
    # ---------------------------------------------------------------- availability
    Case(
        id="availability-groups",
        source=f"{PYCRONOFY} pycronofy/tests/test_availability.py test_availablity_with_groups",
        method="POST",
        path="/v1/availability",
        body={
            "participants": [
                {"required": "all", "members": [{"sub": "$sub"}]},
                {"required": "all", "members": [{"sub": "$sub2"}]},
            ],
            "required_duration": {"minutes": 30},
            "buffer": {},
            "available_periods": PERIODS_2017,
        },
        status=200,
        response=TEST_AVAILABLITY_RESPONSE,
    ),
    Case(
        id="availability-simple-values",
        source=(
            f"{PYCRONOFY} pycronofy/tests/test_availability.py test_availablity_with_simple_values"
        ),
        method="POST",
        path="/v1/availability",
        body={
            "participants": [{"required": "all", "members": TWO_MEMBERS}],
            "required_duration": {"minutes": 30},
            "start_interval": {"minutes": 30},
            "buffer": {"before": {"minutes": 30}, "after": {"minutes": 45}},
            "available_periods": PERIODS_2017,
        },
        status=200,
        response=TEST_AVAILABLITY_RESPONSE,
    ),
    Case(
        id="availability-slots",
        source=(
            f"{PYCRONOFY} pycronofy/tests/test_availability.py "
            "test_availablity_with_simple_values_slots_response"
        ),
        method="POST",
        path="/v1/availability",
        body={
            "participants": [{"required": "all", "members": TWO_MEMBERS}],
            "required_duration": {"minutes": 30},
            "start_interval": {"minutes": 30},
            "buffer": {"before": {"minutes": 30}, "after": {"minutes": 45}},
            "available_periods": PERIODS_2017,
            "response_format": "slots",
        },
        status=200,
        response=TEST_AVAILABLITY_RESPONSE_SLOTS,
    ),
    Case(
        id="availability-fully-specified",
        source=(
            f"{PYCRONOFY} pycronofy/tests/test_availability.py "
            "test_availablity_with_fully_specified_options"
        ),
        method="POST",
        path="/v1/availability",
        body={
            "participants": [
                {
                    "required": "all",
                    "members": [
                        {"sub": "$sub", "available_periods": PERIODS_2017},
                        {"sub": "$sub2"},
                    ],
                }
            ],
            "required_duration": {"minutes": 30},
            "buffer": {
                "before": {"minimum": {"minutes": 30}},
                "after": {"minimum": {"minutes": 45}},
            },
            "available_periods": PERIODS_2017,
            "max_results": 42,
        },
        status=200,
        response=TEST_AVAILABLITY_RESPONSE,
    ),
    Case(
        id="availability-client-secret",
        source=(
            "Cronofy docs (as recorded in docs/api-contract.md §7: newer docs authenticate "
            "availability with the client secret)"
        ),
        method="POST",
        path="/v1/availability",
        bearer="client_secret",
        body={
            "participants": [{"required": "all", "members": TWO_MEMBERS}],
            "required_duration": {"minutes": 30},
            "query_periods": PERIODS_2017,
        },
        status=200,
        response=TEST_AVAILABLITY_RESPONSE,
    ),
    # ---------------------------------------------------------------- available periods
    Case(
        id="upsert-available-period",
        source="Cronofy docs (as recorded in docs/api-contract.md §6, Upsert Available Period)",
        method="POST",
        path="/v1/available_periods",
        body={
            "available_period_id": "qTtZdczOccgaPncGJaCiLg",
            "start": "2026-11-24T09:00:00Z",
            "end": "2026-11-24T17:00:00Z",
        },
        status=202,
    ),
    Case(
        id="list-available-periods",
        source="Cronofy docs (as recorded in docs/api-contract.md §6, Read Available Periods)",
        method="GET",
        path="/v1/available_periods",
        query={"tzid": "Etc/UTC"},
        status=200,
        response={
            "pages": {"current": 1, "total": 1},
            "available_periods": [
                {
                    "available_period_id": "qTtZdczOccgaPncGJaCiLg",
                    "start": "2026-11-24T09:00:00Z",
                    "end": "2026-11-24T17:00:00Z",
                }
            ],
        },
        setup="one available period",
    ),
    Case(
        id="delete-available-period",
        source="Cronofy docs (as recorded in docs/api-contract.md §6, Delete Available Period)",
        method="DELETE",
        path="/v1/available_periods",
        body={"available_period_id": "qTtZdczOccgaPncGJaCiLg"},
        status=202,
        setup="one available period",
    ),
    # ---------------------------------------------------------------- oauth
    Case(
        id="token-refresh",
        source=f"{NODE} test/index.spec.js 'returns new token information'",
        method="POST",
        path="/oauth/token",
        bearer="none",
        body={
            "client_id": "$client_id",
            "client_secret": "$client_secret",
            "grant_type": "refresh_token",
            "refresh_token": "$refresh_token",
        },
        status=200,
        response={
            "token_type": "bearer",
            "access_token": "090jsadkasdkjnasda",
            "expires_in": 3600,
            "refresh_token": "894576984569kasbdkasbd",
            "scope": "create_event",
        },
        same_values=("token_type",),
    ),
    Case(
        id="token-refresh-unrecognised",
        source=f"{NODE} test/index.spec.js 'returns context for unrecognized token'",
        method="POST",
        path="/oauth/token",
        bearer="none",
        body={
            "client_id": "$client_id",
            "client_secret": "$client_secret",
            "grant_type": "refresh_token",
            "refresh_token": "12312312nakjsdnasd",
        },
        status=400,
        response={"error": "invalid_grant"},
        same_values=("error",),
    ),
]
