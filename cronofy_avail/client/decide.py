"""What to do with what one try of a request got back: a pure decision.

:func:`decide` looks at one outcome, an HTTP :class:`Answer` or a :class:`TransportFailure`, in
the light of the :class:`Attempt` (which request, which try, how long it has taken, whether a
token renewal was already spent) and the :class:`~cronofy_avail.core.retry.RetryPolicy`, and
says what the request loop does next:

* :class:`Done`: hand the answer back (2xx, or a final refusal the caller maps itself);
* :class:`Refresh`: renew the access token, then try again (a renewal is not a retry);
* :class:`Retry`: wait ``after`` seconds, then try again;
* :class:`Raise`: give up with this error.

Pure: plain values in, a value out. No I/O, no clock (``now`` and ``elapsed`` come in with the
attempt), no aiohttp, so the whole table of answers is tested without a mock or a socket. The
only state it touches is the policy's jitter generator, drawn once per failure exactly as the
request loop always drew it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from cronofy_avail.core.errors import (
    CronofyError,
    CronofyTimeoutError,
    CronofyTransportError,
    UnexpectedResponseError,
    error_for_status,
)
from cronofy_avail.core.retry import RETRYABLE_STATUSES, RetryPolicy, parse_retry_after

ALWAYS_RETRYABLE: frozenset[int] = frozenset({429, 503})
"""Statuses that say the request was not acted on: retried even when it is not idempotent."""


class TransportCause(Exception):
    """What a transport failure was, without the request it failed on.

    aiohttp's exceptions carry the request (headers included) and show it in their ``repr``;
    chaining them would put the bearer token in every logged or printed chain.
    """


_BEARER = re.compile(r"(Bearer\s+)[^\s'\",}]+", re.IGNORECASE)


def sanitized(exc: BaseException) -> TransportCause:
    """``exc`` as a :class:`TransportCause`: its type and message, bearer tokens masked."""
    text = _BEARER.sub(r"\1***", str(exc))
    return TransportCause(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


# --------------------------------------------------------------------------- what came back


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer: status, body and headers (any case-insensitive mapping, or a dict)."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


FailureKind = Literal["timeout", "refused", "broken"]
"""``timeout``: no answer in time. ``refused``: the connection was never made (the request did
not leave). ``broken``: the connection failed after the request may have left."""


@dataclass(frozen=True, slots=True)
class TransportFailure:
    """No HTTP answer. ``cause`` is already sanitized; ``host`` names the host a refused
    connection was for, ``error_type`` the failure's type for a broken one."""

    kind: FailureKind
    cause: TransportCause
    host: str | None = None
    error_type: str = ""


Outcome = Answer | TransportFailure


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of one logical request, with everything the decision depends on."""

    method: str
    url: str
    number: int
    """1 for the first try; a token renewal does not count as a try."""
    elapsed: float = 0.0
    """Seconds (monotonic) from the first try's start to this outcome."""
    now: float = 0.0
    """Wall-clock epoch seconds: what an HTTP-date ``Retry-After`` is measured from."""
    idempotent: bool = True
    """Whether sending it twice is harmless (a timeout after sending is then retried)."""
    raise_for: bool = True
    """``False``: a final refusal is handed back (:class:`Done`) instead of raised."""
    can_refresh: bool = False
    """Token auth whose refresh token can be redeemed: a 401 may be cured by a renewal."""
    refreshed: bool = False
    """A renewal was already spent on this request: a second 401 is final."""


# --------------------------------------------------------------------------- what to do


@dataclass(frozen=True, slots=True)
class Done:
    answer: Answer


@dataclass(frozen=True, slots=True)
class Refresh:
    """Renew the access token and send the request again, without counting a try."""


@dataclass(frozen=True, slots=True)
class Retry:
    after: float
    """Seconds to wait before the next try."""
    reason: CronofyError
    """What failed (for the log line; never raised)."""


@dataclass(frozen=True, slots=True)
class Raise:
    error: CronofyError
    cause: TransportCause | None = None
    """Chained as ``raise error from cause`` (transport failures only)."""


Decision = Done | Refresh | Retry | Raise


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, whatever the case of its name in ``headers``."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def decide(attempt: Attempt, outcome: Outcome, policy: RetryPolicy) -> Decision:
    """What the request loop does with ``outcome`` (see the module's docstring)."""
    if isinstance(outcome, TransportFailure):
        error, retryable = _transport_error(attempt, outcome)
        return _retry_or_raise(attempt, policy, error, retryable, None, outcome.cause)
    status = outcome.status
    if 200 <= status < 300:
        return Done(outcome)
    if status == 401 and attempt.can_refresh and not attempt.refreshed:
        return Refresh()
    if 300 <= status < 400:
        return Raise(
            UnexpectedResponseError(
                "redirect not followed (the bearer token stays on the API host)",
                status=status,
                method=attempt.method,
                url=attempt.url,
            )
        )
    retry_after = parse_retry_after(header(outcome.headers, "Retry-After"), now=attempt.now)
    error = error_for_status(
        status, outcome.body, method=attempt.method, url=attempt.url, retry_after=retry_after
    )
    retryable = status in ALWAYS_RETRYABLE or (status in RETRYABLE_STATUSES and attempt.idempotent)
    if not retryable and not attempt.raise_for:
        return Done(outcome)
    return _retry_or_raise(attempt, policy, error, retryable, retry_after, None)


def _transport_error(attempt: Attempt, failure: TransportFailure) -> tuple[CronofyError, bool]:
    """The error for a failure without an answer, and whether trying again is safe."""
    method, url = attempt.method, attempt.url
    if failure.kind == "timeout":
        return CronofyTimeoutError("no answer in time", method=method, url=url), attempt.idempotent
    if failure.kind == "refused":
        # The request never left: always safe to try again.
        message = f"cannot connect to {failure.host}"
        return CronofyTransportError(message, method=method, url=url), True
    message = f"connection failed ({failure.error_type})"
    return CronofyTransportError(message, method=method, url=url), attempt.idempotent


def _retry_or_raise(
    attempt: Attempt,
    policy: RetryPolicy,
    error: CronofyError,
    retryable: bool,
    retry_after: float | None,
    cause: TransportCause | None,
) -> Retry | Raise:
    delay = policy.delay(attempt.number, retry_after)
    if not retryable or not policy.should_retry(attempt.number, attempt.elapsed, delay):
        return Raise(error, cause)
    return Retry(delay, error)
