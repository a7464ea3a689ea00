"""The client's answer decision as a table: situation → decision. No mocks, no HTTP, no clock.

Each row gives what one try got back (an answer or a transport failure) and the attempt it
belongs to; the expected decision is what the request loop then does. The policy's jitter is a
deterministic generator that always draws the ceiling, so a backoff reads as a number.
"""

from __future__ import annotations

import ast
import random
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

import cronofy_avail.client.decide as decide_module
from cronofy_avail.client.decide import (
    Answer,
    Attempt,
    Decision,
    Done,
    Outcome,
    Raise,
    Refresh,
    Retry,
    TransportCause,
    TransportFailure,
    decide,
    header,
    sanitized,
)
from cronofy_avail.core.errors import (
    AuthenticationError,
    CronofyAPIError,
    CronofyError,
    CronofyTimeoutError,
    CronofyTransportError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    PaymentRequiredError,
    ProfileLockedError,
    RateLimitedError,
    ServerError,
    UnexpectedResponseError,
)
from cronofy_avail.core.retry import RetryPolicy

NOW = 1_800_000_000.0
URL = "https://api.cronofy.com/v1/profiles"


class _Ceiling(random.Random):
    """Full jitter that always draws its ceiling: backoff(n) = min(max_delay, base * 2**(n-1))."""

    def uniform(self, a: float, b: float) -> float:
        return b


POLICY = RetryPolicy(
    max_attempts=3,
    max_elapsed=60.0,
    base_delay=0.5,
    max_delay=20.0,
    max_retry_after=60.0,
    rng=_Ceiling(),
)


def _http_date(epoch: float) -> str:
    return format_datetime(datetime.fromtimestamp(epoch, UTC), usegmt=True)


def at(
    number: int = 1,
    *,
    post: bool = False,
    method: str = "GET",
    idempotent: bool = True,
    raise_for: bool = True,
    can_refresh: bool = True,
    refreshed: bool = False,
    elapsed: float = 0.0,
    now: float = NOW,
) -> Attempt:
    """Try ``number`` of a GET; ``post``: of a POST that must not be sent twice if it may have
    been acted on (create a calendar)."""
    if post:
        method, idempotent = "POST", False
    return Attempt(
        method=method,
        url=URL,
        number=number,
        elapsed=elapsed,
        now=now,
        idempotent=idempotent,
        raise_for=raise_for,
        can_refresh=can_refresh,
        refreshed=refreshed,
    )


def answer(
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    after: str | None = None,
) -> Answer:
    """An answer; ``after`` is its ``Retry-After`` header."""
    headers = dict(headers or {})
    if after is not None:
        headers["Retry-After"] = after
    return Answer(status, body, headers)


TIMEOUT = TransportFailure("timeout", TransportCause("TimeoutError"))
REFUSED = TransportFailure(
    "refused", TransportCause("ClientConnectorError: refused"), host="api.cronofy.com"
)
BROKEN = TransportFailure(
    "broken", TransportCause("ServerDisconnectedError"), error_type="ServerDisconnectedError"
)

Summary = tuple[object, ...]


def done(status: int) -> Summary:
    return ("done", status)


REFRESH: Summary = ("refresh",)


def retry(after: float, reason: type[CronofyError]) -> Summary:
    return ("retry", after, reason)


def raises(
    error: type[CronofyError], status: int | None = None, retry_after: float | None = None
) -> Summary:
    return ("raise", error, status, retry_after)


def summary(decision: Decision) -> Summary:
    match decision:
        case Done(answered):
            return done(answered.status)
        case Refresh():
            return REFRESH
        case Retry(after, reason):
            return retry(after, type(reason))
        case Raise(error, _):
            return raises(type(error), error.status, getattr(error, "retry_after", None))


TABLE: list[tuple[str, Attempt, Outcome, Summary]] = [
    # 2xx: the answer goes back as it came, whatever the body.
    ("200 with a body", at(), answer(200, b'{"profiles": []}'), done(200)),
    ("201", at(post=True), answer(201, b"{}"), done(201)),
    ("202 without a body", at(post=True), answer(202), done(202)),
    ("204 without a body", at(method="DELETE"), answer(204), done(204)),
    ("2xx on a late try", at(3, elapsed=59.0), answer(200), done(200)),
    # 401: one renewal, then final.
    ("401, renewable", at(), answer(401), REFRESH),
    ("401, renewable, late try", at(3), answer(401), REFRESH),
    ("401, no refresh token", at(can_refresh=False), answer(401), raises(AuthenticationError, 401)),
    ("401 after a renewal", at(refreshed=True), answer(401), raises(AuthenticationError, 401)),
    (
        "401, not renewable, POST",
        at(can_refresh=False, post=True),
        answer(401),
        raises(AuthenticationError, 401),
    ),
    # Other refusals: raised at once, never retried.
    ("400", at(), answer(400, b"{}"), raises(CronofyAPIError, 400)),
    ("402", at(), answer(402), raises(PaymentRequiredError, 402)),
    ("403", at(), answer(403), raises(ForbiddenError, 403)),
    ("404", at(), answer(404), raises(NotFoundError, 404)),
    ("404 with Retry-After", at(), answer(404, after="5"), raises(NotFoundError, 404)),
    ("418", at(), answer(418), raises(CronofyAPIError, 418)),
    ("422", at(post=True), answer(422, b'{"errors": {}}'), raises(InvalidRequestError, 422)),
    ("423", at(), answer(423), raises(ProfileLockedError, 423)),
    # 429: retried even for a POST (it was not acted on), after the server's wait if it gave one.
    ("429, Retry-After seconds", at(), answer(429, after="7"), retry(7.0, RateLimitedError)),
    ("429, Retry-After 0", at(), answer(429, after="0"), retry(0.0, RateLimitedError)),
    (
        "429, Retry-After HTTP-date",
        at(),
        answer(429, after=_http_date(NOW + 42)),
        retry(42.0, RateLimitedError),
    ),
    (
        "429, Retry-After date past",
        at(),
        answer(429, after=_http_date(NOW - 30)),
        retry(0.0, RateLimitedError),
    ),
    ("429, Retry-After garbage", at(), answer(429, after="soon"), retry(0.5, RateLimitedError)),
    ("429, no Retry-After", at(), answer(429), retry(0.5, RateLimitedError)),
    ("429, no Retry-After, try 2", at(2), answer(429), retry(1.0, RateLimitedError)),
    ("429, POST", at(post=True), answer(429, after="2"), retry(2.0, RateLimitedError)),
    ("429, wait too long", at(), answer(429, after="3600"), raises(RateLimitedError, 429, 3600.0)),
    ("429, wait at the limit", at(), answer(429, after="60"), retry(60.0, RateLimitedError)),
    ("429, last try", at(3), answer(429, after="1"), raises(RateLimitedError, 429, 1.0)),
    (
        "429, wait fits the budget",
        at(elapsed=56.0),
        answer(429, after="4"),
        retry(4.0, RateLimitedError),
    ),
    (
        "429, wait overruns",
        at(elapsed=56.5),
        answer(429, after="4"),
        raises(RateLimitedError, 429, 4.0),
    ),
    # 5xx: 503 always retried; 502/504 only when sending twice is harmless; 500 never.
    ("500", at(), answer(500), raises(ServerError, 500)),
    ("501", at(), answer(501), raises(ServerError, 501)),
    ("502, GET", at(), answer(502), retry(0.5, ServerError)),
    ("504, GET, try 2", at(2), answer(504), retry(1.0, ServerError)),
    ("502, POST", at(post=True), answer(502), raises(ServerError, 502)),
    ("504, POST", at(post=True), answer(504), raises(ServerError, 504)),
    ("503, POST", at(post=True), answer(503), retry(0.5, ServerError)),
    ("503, Retry-After", at(), answer(503, after="3"), retry(3.0, ServerError)),
    ("503, last try", at(3), answer(503), raises(ServerError, 503)),
    ("503, budget spent", at(elapsed=59.8), answer(503), raises(ServerError, 503)),
    # Redirects are never followed: the bearer token stays on the API host.
    (
        "301",
        at(),
        answer(301, headers={"Location": "https://evil.example/"}),
        raises(UnexpectedResponseError, 301),
    ),
    ("302, POST", at(post=True), answer(302), raises(UnexpectedResponseError, 302)),
    ("307, even with a renewal left", at(), answer(307), raises(UnexpectedResponseError, 307)),
    (
        "308, not for raise_for=False",
        at(raise_for=False),
        answer(308),
        raises(UnexpectedResponseError, 308),
    ),
    # raise_for=False (the token endpoint maps its own refusals): handed back unless retryable.
    ("raise_for=False, 400", at(raise_for=False, post=True), answer(400), done(400)),
    ("raise_for=False, 401", at(raise_for=False, can_refresh=False), answer(401), done(401)),
    ("raise_for=False, 502, POST", at(raise_for=False, post=True), answer(502), done(502)),
    ("raise_for=False, 503", at(raise_for=False, post=True), answer(503), retry(0.5, ServerError)),
    ("raise_for=False, 503, last", at(3, raise_for=False), answer(503), raises(ServerError, 503)),
    # No answer at all.
    ("timeout, GET", at(), TIMEOUT, retry(0.5, CronofyTimeoutError)),
    ("timeout, POST", at(post=True), TIMEOUT, raises(CronofyTimeoutError)),
    ("timeout, last try", at(3), TIMEOUT, raises(CronofyTimeoutError)),
    ("refused, GET", at(), REFUSED, retry(0.5, CronofyTransportError)),
    ("refused, POST (never left)", at(2, post=True), REFUSED, retry(1.0, CronofyTransportError)),
    ("refused, last try", at(3, post=True), REFUSED, raises(CronofyTransportError)),
    ("broken, GET", at(), BROKEN, retry(0.5, CronofyTransportError)),
    ("broken, POST", at(post=True), BROKEN, raises(CronofyTransportError)),
    ("broken, budget spent", at(elapsed=60.0), BROKEN, raises(CronofyTransportError)),
]


@pytest.mark.parametrize(
    ("attempt", "outcome", "expected"),
    [pytest.param(a, o, e, id=name) for name, a, o, e in TABLE],
)
def test_decision_table(attempt: Attempt, outcome: Outcome, expected: Summary) -> None:
    assert summary(decide(attempt, outcome, POLICY)) == expected


# --------------------------------------------------------------------------- details of a row


def test_done_hands_back_the_very_answer() -> None:
    got = answer(204, b"", {"Date": "Sun, 06 Dec 2026 16:00:00 GMT"})
    assert decide(at(), got, POLICY) == Done(got)


def test_errors_say_where_without_the_query_string() -> None:
    attempt = Attempt("GET", f"{URL}?page_token=opaque", number=1, now=NOW)
    decision = decide(attempt, answer(404), POLICY)
    assert isinstance(decision, Raise)
    assert decision.error.method == "GET"
    assert decision.error.url == URL
    assert decision.cause is None


def test_422_carries_cronofy_details() -> None:
    body = b'{"errors": {"end": [{"key": "errors.invalid", "description": "end before start"}]}}'
    decision = decide(at(post=True), answer(422, body), POLICY)
    assert isinstance(decision, Raise)
    assert isinstance(decision.error, InvalidRequestError)
    assert decision.error.error_keys("end") == ["errors.invalid"]
    assert "end before start" in str(decision.error)


def test_redirect_error_says_why() -> None:
    decision = decide(at(), answer(302), POLICY)
    assert isinstance(decision, Raise)
    assert "redirect not followed" in str(decision.error)


def test_retry_names_what_failed() -> None:
    decision = decide(at(), answer(503), POLICY)
    assert isinstance(decision, Retry)
    assert decision.reason.status == 503
    assert decision.reason.message == "Cronofy server error"


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (TIMEOUT, "no answer in time"),
        (REFUSED, "cannot connect to api.cronofy.com"),
        (BROKEN, "connection failed (ServerDisconnectedError)"),
    ],
)
def test_transport_errors_chain_their_sanitized_cause(
    failure: TransportFailure, message: str
) -> None:
    decision = decide(at(3), failure, POLICY)
    assert isinstance(decision, Raise)
    assert decision.error.message == message
    assert decision.error.status is None
    assert decision.cause is failure.cause


def test_retry_after_dates_are_measured_from_the_given_now() -> None:
    """The decision reads no clock: the same answer waits less when ``now`` is later."""
    got = answer(429, after=_http_date(NOW + 42))
    assert summary(decide(at(now=NOW), got, POLICY)) == retry(42.0, RateLimitedError)
    assert summary(decide(at(now=NOW + 40), got, POLICY)) == retry(2.0, RateLimitedError)
    assert summary(decide(at(now=NOW + 100), got, POLICY)) == retry(0.0, RateLimitedError)


def test_retry_after_header_name_in_any_case() -> None:
    got = answer(429, headers={"retry-after": "9"})
    assert summary(decide(at(), got, POLICY)) == retry(9.0, RateLimitedError)
    assert header({"RETRY-AFTER": "1"}, "Retry-After") == "1"
    assert header({}, "Retry-After") is None


def test_backoff_draws_the_policy_jitter_once_per_failure() -> None:
    """Seeded policies give the same delays as the policy itself would."""
    mine = RetryPolicy(rng=random.Random(7))
    reference = random.Random(7)
    delays = [decide(at(n), answer(503), mine) for n in (1, 2, 3)]
    expected = [reference.uniform(0.0, 0.5 * 2 ** (n - 1)) for n in (1, 2, 3)]
    assert [d.after for d in delays if isinstance(d, Retry)] == expected
    # A final refusal still draws (as the loop always did), so later delays do not shift.
    decide(at(), answer(404), mine)
    reference.uniform(0.0, 0.5)
    after = decide(at(), answer(503), mine)
    assert isinstance(after, Retry)
    assert after.after == reference.uniform(0.0, 0.5)


def test_sanitized_cause_masks_bearer_tokens() -> None:
    exc = ValueError("bad header {'Authorization': 'Bearer ACCESS-tok-5ecret-7f3a9c'}")
    cause = sanitized(exc)
    assert isinstance(cause, TransportCause)
    assert str(cause) == "ValueError: bad header {'Authorization': 'Bearer ***'}"
    assert str(sanitized(TimeoutError())) == "TimeoutError"


def test_the_decision_module_imports_no_http_library() -> None:
    """Plain values in, a value out: nothing from aiohttp (or yarl/multidict) to mock."""
    tree = ast.parse(Path(decide_module.__file__).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    roots = {name.split(".")[0] for name in imported}
    assert roots <= {"__future__", "re", "collections", "dataclasses", "typing", "cronofy_avail"}
    assert {n for n in imported if n.startswith("cronofy_avail.")} <= {
        "cronofy_avail.core.errors",
        "cronofy_avail.core.retry",
    }
