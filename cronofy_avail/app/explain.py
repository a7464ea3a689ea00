"""One place where failures become a message for people: the cause, then the fix.

:func:`explain` maps an exception to one or two lines and an exit code; no traceback, no
secret (errors of :mod:`cronofy_avail.core.errors` never carry one, and the command output is masked
on top of that).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from cronofy_avail.app.settings import ENV_API_BASE_URL, ENV_DATA_CENTER, ConfigError, Settings
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
)
from cronofy_avail.core.retry import RetryPolicy
from cronofy_avail.runtime.steps import SetupError
from cronofy_avail.runtime.store import StoreSchemaError

EXIT_FAILURE = 1
EXIT_CONFIG = 2

REAUTHORIZE = (
    "authorize the user again through your application's OAuth flow, put the new tokens in "
    "CRONOFY_ACCESS_TOKEN / CRONOFY_REFRESH_TOKEN and run `cronofy-avail setup`"
)


INVALID_CLIENT = (
    "CRONOFY_CLIENT_SECRET (or CRONOFY_CLIENT_ID) is not this application's: copy it from the "
    "developer dashboard (https://app.cronofy.com/oauth/applications, the application the "
    "user authorized)"
)

MAX_RETRY_AFTER = RetryPolicy().max_retry_after
"""The longest ``Retry-After`` the commands' clients wait out (their policy's default)."""


def is_invalid_client(text: str | None) -> bool:
    """Whether an error (or its stored text) is Cronofy refusing the client credentials."""
    return bool(text) and "invalid_client" in str(text)


class CommandError(Exception):
    """A failure a command explains itself (``message`` already says cause and fix)."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Explained:
    message: str
    code: int = EXIT_FAILURE


def host_of(url: str | None) -> str:
    if not url:
        return "the Cronofy API"
    parts = urlsplit(url)
    return parts.netloc or url


def _where(exc: CronofyError) -> str:
    return f" ({exc.method} {urlsplit(exc.url).path})" if exc.method and exc.url else ""


def data_center_hint(settings: Settings | None) -> str:
    if settings is None:
        return ""
    hint = (
        f"; if the account lives in another data center, set {ENV_DATA_CENTER} "
        f"(now {settings.data_center!r}; one of us, uk, de, au, ca, sg)"
    )
    if settings.api_base_url:
        hint += f" — requests go to {settings.api_base_url} ({ENV_API_BASE_URL})"
    else:
        hint += f" — requests go to {settings.api_url}"
    return hint


def rate_limit_hint(retry_after: float | None = None) -> str:
    """The fix for a 429: retried unless Cronofy asked for a longer wait than the client's."""
    if retry_after is not None and retry_after > MAX_RETRY_AFTER:
        return (
            f"Cronofy rate-limited the application and asked to wait {retry_after:g}s, longer "
            f"than the client waits ({MAX_RETRY_AFTER:g}s), so it was not retried; wait "
            f"{retry_after:g} seconds and run again (limits are per application: 50/s, 500/min)"
        )
    return (
        "Cronofy rate-limited the application and the client slowed down and retried; "
        "wait a minute and run again (limits are per application: 50/s, 500/min)"
    )


def status_hint(status: int | None, settings: Settings | None = None) -> str | None:
    """The fix for an error status (also used for a sync result's stored error text)."""
    if status == 401:
        return f"re-authorize: {REAUTHORIZE}{data_center_hint(settings)}"
    if status == 402:
        return (
            "the application's Cronofy plan lacks this feature (Available Periods need the "
            "Emerging plan or above): upgrade the plan in the developer dashboard"
        )
    if status == 403:
        return (
            "the token lacks a scope this call needs: re-authorize asking for "
            "'read_account list_calendars create_calendar read_events'"
        )
    if status == 423:
        return "the calendar profile is locked: the user must unlock or relink it in Cronofy"
    if status == 429:
        return rate_limit_hint()
    if status is not None and status >= 500:
        return "a fault on Cronofy's side: run again later (check status.cronofy.com)"
    return None


_HTTP_STATUS = re.compile(r"^HTTP (\d{3})")


def hint_for_text(error: str | None, settings: Settings | None = None) -> str | None:
    """The fix for an error stored as text (``"HTTP 402: ..."``) by the sync engine."""
    if not error:
        return None
    if is_invalid_client(error):  # a 401 of the token endpoint: not the user's tokens
        return INVALID_CLIENT
    found = _HTTP_STATUS.match(error)
    hint = status_hint(int(found.group(1)), settings) if found else None
    if hint:
        return hint
    if "invalid_grant" in error:  # the refresh token is revoked or used: any data center
        return REAUTHORIZE
    if "authorize" in error:
        return REAUTHORIZE + data_center_hint(settings)
    if "cannot connect" in error or "connection failed" in error or "no answer" in error:
        return f"check the network and {ENV_API_BASE_URL} / {ENV_DATA_CENTER}"
    return None


def explain(exc: BaseException, settings: Settings | None = None) -> Explained:
    """The one-or-two line explanation of ``exc`` and the exit code."""
    if isinstance(exc, CommandError):
        return Explained(str(exc), exc.code)
    if isinstance(exc, ConfigError):
        return Explained(f"configuration: {exc}", EXIT_CONFIG)
    if isinstance(exc, SetupError):
        return Explained(exc.message)  # the command's name already prefixes it
    if isinstance(exc, StoreSchemaError):
        return Explained(f"store: {exc}")
    if isinstance(exc, AuthorizationCodeRefusedError):
        return Explained(
            "the authorization code was refused (invalid_grant): start again with "
            "`cronofy-avail authorize`."
        )
    if isinstance(exc, OAuthError) and is_invalid_client(exc.message):
        return Explained(
            f"Cronofy refused the application's credentials ({exc.message}).\n"
            f"Fix: {INVALID_CLIENT}."
        )
    if isinstance(exc, ReauthorizationRequiredError):
        return Explained(
            f"Cronofy: the credentials cannot be renewed ({exc.message}).\nFix: {REAUTHORIZE}."
        )
    if isinstance(exc, CronofyTimeoutError):
        return Explained(
            f"network: no answer from {host_of(exc.url)} in time{_where(exc)}.\n"
            f"Fix: check the network, or {ENV_API_BASE_URL} / {ENV_DATA_CENTER}."
        )
    if isinstance(exc, CronofyTransportError):
        return Explained(
            f"network: cannot reach {host_of(exc.url)} ({exc.message}){_where(exc)}.\n"
            f"Fix: check the network and that {host_of(exc.url)} is the right host "
            f"({ENV_API_BASE_URL} / {ENV_DATA_CENTER})."
        )
    if isinstance(exc, AuthenticationError):
        return Explained(
            f"Cronofy answered 401: the access token was not recognised or has expired"
            f"{_where(exc)}.\nFix: {status_hint(401, settings)}."
        )
    if isinstance(exc, ForbiddenError):
        return Explained(
            f"Cronofy answered 403: missing scope{_where(exc)}.\nFix: {status_hint(403)}."
        )
    if isinstance(exc, PaymentRequiredError):
        return Explained(
            f"Cronofy answered 402: the plan does not include this{_where(exc)}.\n"
            f"Fix: {status_hint(402)}."
        )
    if isinstance(exc, RateLimitedError):
        wait = f" (Cronofy asks for {exc.retry_after:g}s)" if exc.retry_after is not None else ""
        retried = exc.retry_after is None or exc.retry_after <= MAX_RETRY_AFTER
        state = "still after slowing down" if retried else "not retried"
        return Explained(
            f"Cronofy answered 429: rate limited, {state}{wait}{_where(exc)}.\n"
            f"Fix: {rate_limit_hint(exc.retry_after)}."
        )
    if isinstance(exc, ProfileLockedError):
        return Explained(f"Cronofy answered 423{_where(exc)}.\nFix: {status_hint(423)}.")
    if isinstance(exc, InvalidRequestError):
        return Explained(f"Cronofy refused the request: {exc.message}{_where(exc)}.")
    if isinstance(exc, NotFoundError):
        return Explained(
            f"Cronofy answered 404: not found{_where(exc)}.\n"
            "Fix: the resource is gone; run `cronofy-avail setup` again to recreate it."
        )
    if isinstance(exc, ServerError):
        return Explained(f"Cronofy answered {exc.status}{_where(exc)}.\nFix: {status_hint(500)}.")
    if isinstance(exc, OAuthError):
        return Explained(
            f"Cronofy refused the token request: {exc.message}.\n"
            "Fix: check CRONOFY_CLIENT_ID / CRONOFY_CLIENT_SECRET (same application and data "
            f"center as the tokens){data_center_hint(settings)}."
        )
    if isinstance(exc, PaginationError | UnexpectedResponseError):
        return Explained(
            f"unexpected answer from {host_of(exc.url)}: {exc.message}.\n"
            f"Fix: check that {ENV_API_BASE_URL} points at Cronofy (or the emulator)."
        )
    if isinstance(exc, CronofyAPIError):
        hint = status_hint(exc.status, settings)
        return Explained(f"Cronofy: {exc}" + (f"\nFix: {hint}." if hint else ""))
    if isinstance(exc, CronofyError):
        return Explained(f"Cronofy: {exc}")
    if isinstance(exc, KeyboardInterrupt):
        return Explained("interrupted", 130)
    return Explained(
        f"unexpected error: {type(exc).__name__}: {exc}\nrun with --debug for the traceback"
    )
