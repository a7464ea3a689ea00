"""The one status-code → error mapping and what errors say."""

from __future__ import annotations

import json

import pytest

from cronofy_avail.core.errors import (
    AuthenticationError,
    AuthorizationCodeRefusedError,
    CronofyAPIError,
    CronofyError,
    CronofyTimeoutError,
    CronofyTransportError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    OAuthError,
    PaginationError,
    PaymentRequiredError,
    ProfileLockedError,
    RateLimitedError,
    ReauthorizationRequiredError,
    ServerError,
    UnexpectedResponseError,
    error_for_status,
    oauth_error,
)
from tests.support.client import SECRETS

URL_WITH_SECRET = "https://api.cronofy.com/v1/events?access_token=ACCESS-tok-5ecret-7f3a9c#frag"
BODY_422 = json.dumps(
    {
        "errors": {
            "start": [{"key": "errors.required", "description": "start must be specified"}],
            "name": [
                {"key": "errors.duplicate_calendar_name", "description": "already exists"},
                {"key": "errors.too_long"},
            ],
        }
    }
).encode()


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, AuthenticationError),
        (402, PaymentRequiredError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (422, InvalidRequestError),
        (423, ProfileLockedError),
        (429, RateLimitedError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (599, ServerError),
    ],
)
def test_mapping(status: int, cls: type[CronofyAPIError]) -> None:
    error = error_for_status(status, b"", method="GET", url="https://api.cronofy.com/v1/x")
    assert type(error) is cls
    assert error.status == status
    assert error.method == "GET"
    assert error.url == "https://api.cronofy.com/v1/x"
    assert f"HTTP {status}" in str(error)
    assert "GET https://api.cronofy.com/v1/x" in str(error)


@pytest.mark.parametrize("status", [400, 405, 409, 418])
def test_unexpected_status_is_plain_api_error(status: int) -> None:
    error = error_for_status(status, b"{}")
    assert type(error) is CronofyAPIError
    assert error.status == status


def test_422_errors_parsed_with_keys() -> None:
    error = error_for_status(422, BODY_422, method="POST", url="https://api.cronofy.com/v1/c")
    assert isinstance(error, InvalidRequestError)
    assert error.error_keys("start") == ["errors.required"]
    assert error.error_keys("name") == ["errors.duplicate_calendar_name", "errors.too_long"]
    assert error.error_keys("end") == []
    assert error.errors["start"][0].description == "start must be specified"
    assert "start must be specified" in str(error)
    assert "errors.too_long" in str(error)


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[]", b'{"errors": "bad"}', b'{"errors": {"x": [{}]}}']
)
def test_422_with_unreadable_body(body: bytes) -> None:
    error = error_for_status(422, body)
    assert isinstance(error, InvalidRequestError)
    assert error.errors == {}
    assert error.error_keys("x") == []


def test_only_422_bodies_are_read() -> None:
    assert error_for_status(404, BODY_422).errors == {}


def test_retry_after_only_on_429() -> None:
    limited = error_for_status(429, b"", retry_after=7.0)
    assert isinstance(limited, RateLimitedError)
    assert limited.retry_after == 7.0
    assert error_for_status(503, b"", retry_after=7.0).retry_after is None
    assert error_for_status(429, b"").retry_after is None


def test_urls_drop_query_and_fragment() -> None:
    for error in (
        error_for_status(401, b"", method="GET", url=URL_WITH_SECRET),
        CronofyTransportError("boom", method="GET", url=URL_WITH_SECRET),
        PaginationError("loop", method="GET", url=URL_WITH_SECRET),
    ):
        assert error.url == "https://api.cronofy.com/v1/events"
        assert "5ecret" not in str(error)
        assert "?" not in str(error)
        assert "frag" not in str(error)


def test_oauth_invalid_grant_requires_reauthorization() -> None:
    error = oauth_error(
        400, b'{"error": "invalid_grant"}', url="https://api.cronofy.com/oauth/token"
    )
    assert isinstance(error, ReauthorizationRequiredError)
    assert error.status == 400
    assert "invalid_grant" in str(error)


def test_oauth_invalid_grant_of_a_code_exchange_refuses_only_the_code() -> None:
    error = oauth_error(400, b'{"error": "invalid_grant"}', grant_type="authorization_code")
    assert isinstance(error, AuthorizationCodeRefusedError)
    assert isinstance(error, OAuthError)
    assert not isinstance(error, ReauthorizationRequiredError)
    assert "authorization code was refused (invalid_grant)" in str(error)
    assert "refresh token" not in str(error)


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (400, b'{"error": "invalid_client"}', "invalid_client"),
        (401, b'{"error": "invalid_client", "error_description": "x"}', "invalid_client"),
        (400, b"garbage", "no error code"),
        (400, b'{"error": 3}', "no error code"),
    ],
)
def test_oauth_other_refusals(status: int, body: bytes, code: str) -> None:
    error = oauth_error(status, body)
    assert type(error) is OAuthError
    assert code in str(error)


def test_oauth_server_side_failures_use_the_common_mapping() -> None:
    assert isinstance(oauth_error(503, b""), ServerError)
    assert isinstance(oauth_error(429, b""), RateLimitedError)


def test_hierarchy() -> None:
    assert issubclass(CronofyTimeoutError, CronofyTransportError)
    assert issubclass(PaginationError, UnexpectedResponseError)
    for cls in (
        CronofyTransportError,
        UnexpectedResponseError,
        ReauthorizationRequiredError,
        CronofyAPIError,
    ):
        assert issubclass(cls, CronofyError)
    for cls in (AuthenticationError, RateLimitedError, ServerError, OAuthError):
        assert issubclass(cls, CronofyAPIError)


def test_no_error_message_contains_a_secret() -> None:
    errors: list[CronofyError] = [
        error_for_status(status, BODY_422, method="GET", url=URL_WITH_SECRET)
        for status in (401, 402, 403, 404, 418, 422, 423, 429, 500)
    ]
    errors += [
        oauth_error(400, b'{"error": "invalid_grant"}', url=URL_WITH_SECRET),
        oauth_error(400, b'{"error": "invalid_client"}', url=URL_WITH_SECRET),
        CronofyTimeoutError("no answer", method="GET", url=URL_WITH_SECRET),
        UnexpectedResponseError("bad", method="GET", url=URL_WITH_SECRET),
    ]
    for error in errors:
        for secret in SECRETS:
            assert secret not in str(error)
            assert secret not in repr(error)
