"""One error hierarchy and one status-code mapping, in one place.

Pure: no I/O. Every error carries context attributes (``status``, ``errors``, ``retry_after``,
``method``, ``url``) and a message that never contains a token or a secret: URLs are stripped of
their query string before they are stored on an error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from cronofy_avail.core.models import ErrorBody, ErrorDetail, OAuthErrorBody


def _safe_url(url: str | None) -> str | None:
    """The URL without query or fragment: enough to say where, never a credential."""
    if url is None:
        return None
    return url.split("?", 1)[0].split("#", 1)[0]


class CronofyError(Exception):
    """Base of every error this toolkit raises about talking to Cronofy."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.method = method
        self.url = _safe_url(url)
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f" ({self.method} {self.url})" if self.method and self.url else ""
        status = f"HTTP {self.status}: " if self.status is not None else ""
        return f"{status}{self.message}{where}"


class CronofyTransportError(CronofyError):
    """The request did not get an HTTP answer: connection refused, reset, DNS, timeout."""


class CronofyTimeoutError(CronofyTransportError):
    """No answer within the configured timeout."""


class UnexpectedResponseError(CronofyError):
    """An answer that breaks the contract: malformed JSON, a redirect, a body of the wrong shape."""


class PaginationError(UnexpectedResponseError):
    """A ``next_page`` that points off the API host, or pages that loop."""


class ReauthorizationRequiredError(CronofyError):
    """The credentials cannot be renewed (no refresh token, or it was revoked): the user must
    authorize the application again."""


class CronofyAPIError(CronofyError):
    """Cronofy answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str | None = None,
        url: str | None = None,
        errors: Mapping[str, list[ErrorDetail]] | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.errors: dict[str, list[ErrorDetail]] = dict(errors or {})
        self.retry_after = retry_after
        super().__init__(message, status=status, method=method, url=url)

    def error_keys(self, param: str) -> list[str]:
        """The error keys reported for one parameter, e.g. ``["errors.required"]``."""
        return [detail.key for detail in self.errors.get(param, [])]


class AuthenticationError(CronofyAPIError):
    """401: the token was not recognised or has expired (and refreshing did not help)."""


class PaymentRequiredError(CronofyAPIError):
    """402: the application's plan lacks this feature (Available Periods need Emerging)."""


class ForbiddenError(CronofyAPIError):
    """403: the token lacks a scope this call needs (e.g. ``create_calendar``)."""


class NotFoundError(CronofyAPIError):
    """404: no such resource."""


class InvalidRequestError(CronofyAPIError):
    """422: invalid parameters; ``errors`` holds Cronofy's per-parameter details."""


class ProfileLockedError(CronofyAPIError):
    """423: the profile is locked."""


class RateLimitedError(CronofyAPIError):
    """429: too many requests for this application; ``retry_after`` in seconds when known."""


class ServerError(CronofyAPIError):
    """5xx: a fault on Cronofy's side."""


class OAuthError(CronofyAPIError):
    """The token endpoint refused the request (other than a revoked grant)."""


class AuthorizationCodeRefusedError(OAuthError):
    """The token endpoint refused an authorization code (``invalid_grant``): unknown, already
    used, expired, or issued for another redirect URI. Nothing is revoked; the user starts the
    authorization again."""


_BY_STATUS: dict[int, tuple[type[CronofyAPIError], str]] = {
    401: (AuthenticationError, "access token not recognised or expired; re-authorize the user"),
    402: (PaymentRequiredError, "the Cronofy plan lacks this feature"),
    403: (ForbiddenError, "the token lacks a required scope"),
    404: (NotFoundError, "not found"),
    422: (InvalidRequestError, "invalid parameters"),
    423: (ProfileLockedError, "the profile is locked"),
    429: (RateLimitedError, "rate limited by Cronofy"),
}


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _describe_errors(errors: Mapping[str, list[ErrorDetail]]) -> str:
    parts = []
    for param, details in errors.items():
        texts = ", ".join(d.description or d.key for d in details) or "invalid"
        parts.append(f"{param}: {texts}")
    return "; ".join(parts)


def error_for_status(
    status: int,
    body: bytes,
    *,
    method: str | None = None,
    url: str | None = None,
    retry_after: float | None = None,
) -> CronofyAPIError:
    """Map an error response to its exception. The only place status codes become errors.

    Bodies of 401/403/404/429/5xx are undocumented, so only a 422 body is read for details.
    """
    errors: dict[str, list[ErrorDetail]] = {}
    if status == 422:
        payload = _parse_json(body)
        if isinstance(payload, dict):
            try:
                errors = ErrorBody.model_validate(payload).errors
            except ValidationError:
                errors = {}
    if status in _BY_STATUS:
        cls, message = _BY_STATUS[status]
    elif status >= 500:
        cls, message = ServerError, "Cronofy server error"
    else:
        cls, message = CronofyAPIError, "unexpected error status"
    if errors:
        message = f"{message}: {_describe_errors(errors)}"
    return cls(
        message,
        status=status,
        method=method,
        url=url,
        errors=errors,
        retry_after=retry_after if status == 429 else None,
    )


def oauth_error(
    status: int, body: bytes, *, url: str | None = None, grant_type: str | None = None
) -> CronofyError:
    """Map a failed token request. ``invalid_grant`` means the user must authorize again: for a
    refresh, the refresh token is revoked; for a code exchange (``grant_type``
    ``authorization_code``), only that code was refused."""
    payload = _parse_json(body)
    code = None
    if isinstance(payload, dict):
        try:
            code = OAuthErrorBody.model_validate(payload).error
        except ValidationError:
            code = None
    if code == "invalid_grant" and grant_type == "authorization_code":
        return AuthorizationCodeRefusedError(
            "the authorization code was refused (invalid_grant): it is unknown, already used, "
            "expired, or for another redirect URI",
            status=status,
            method="POST",
            url=url,
        )
    if code == "invalid_grant":
        return ReauthorizationRequiredError(
            "the refresh token was revoked or is unknown (invalid_grant): "
            "the user must authorize the application again",
            status=status,
            method="POST",
            url=url,
        )
    if status in (429,) or status >= 500:
        return error_for_status(status, body, method="POST", url=url)
    return OAuthError(
        f"token request refused ({code or 'no error code'})",
        status=status,
        method="POST",
        url=url,
    )
