"""The instructor's side of a workshop: attendees join one emulator, the instructor watches
and injects faults, and nobody in the room can act as anybody else.

:class:`~cronofy_avail.workshop.server.WorkshopServer` serves one emulator with these routes
added:

* ``POST /_emulator/workshop/join`` (``{"name", "code", "tzid"?}``): with the instructor's
  join code, 201: an isolated account (its tokens), the attendee's *own* application
  (``client_id``/``client_secret``: nobody else can sign notifications for them or refresh
  their tokens), an ``attendee_token``, and their relay box (``relay_url``);
* ``POST /_emulator/workshop/rejoin`` (``{"refresh_token"}``): the same credentials again for
  a kernel that kept the account's refresh token (a resumed wizard), and a new attendee token;
* ``GET /_emulator/workshop``: the instructor page (HTML, refreshes itself): the join code,
  each attendee's step, exercises solved, deliveries, syncs, periods in sync;
* ``GET /_emulator/workshop/status``: the same as JSON;
* ``POST /_emulator/workshop/progress`` (``{"exercise", "ok"}``, the attendee's own token): a
  notebook 04 check's result, shown on the page (one of
  :data:`~cronofy_avail.workshop.page.EXERCISES`; anything else, or a body over 256 bytes, is
  refused);
* ``POST /_emulator/workshop/fault`` (``{"kind"}`` or a form): a fault for everyone,
  ``429_burst``, ``503_burst``, ``slow`` or ``clear``.

**Who may do what.** An attendee, with ``Authorization: Bearer <attendee token>``, may play
the user of their own account through the control API (add, move and delete events in their
calendars, their profile, wait for notifications) and poll their own relay box; a resource of
another account answers 404, as if it did not exist. Everything else under ``/_emulator``
(the page, status, faults, every account's tokens, channels, the request log, reset, secret
rotation) is the instructor's: a direct request from this machine (the instructor's browser)
or one with ``Authorization: Bearer <instructor token>``. Ten wrong join codes from one
address earn that address 429s. The emulator's own guards apply first: a cross-site request
or an unknown ``Host`` is refused before any of this.

Everything but the exercises is computed from the emulator's own state: step 1 is a sub
calendar created through the API, step 2 an active channel, step 3 a sync (an events read after
the channel), step 4 an availability query. The exercises are what the attendee's checks
reported (the last result of each) with the attendee token: whoever reports can only report
for themselves. "In sync" compares the periods of the account with the live, future events of
its sub calendars, by the period id the toolkit derives.
The page never shows a token, a client secret or a relay id.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from cronofy_avail.core.browser import is_direct_local
from cronofy_avail.core.mapping import period_id_for
from cronofy_avail.core.signatures import is_valid
from cronofy_avail.emulator.faults import FaultRule
from cronofy_avail.emulator.http import ACCOUNT_ID, SERVICES, Services, bearer, read_json
from cronofy_avail.emulator.notifications import USER_AGENT as DELIVERY_USER_AGENT
from cronofy_avail.emulator.state import AccountRecord, EmulatorState
from cronofy_avail.emulator.validation import ApiError, Errors, unprocessable, zone
from cronofy_avail.workshop.page import (
    EXERCISES,
    FAULT_BUTTONS,
    PROGRESS_PATH,
    WORKSHOP_PATH,
    render_main,
    render_page,
)
from cronofy_avail.workshop.relay import (
    RELAY,
    RELAY_PATH,
    Relay,
    RelayFull,
    add_relay_routes,
    token_digest,
)

JOIN_PATH = WORKSHOP_PATH + "/join"
REJOIN_PATH = WORKSHOP_PATH + "/rejoin"
FAULT_KINDS = tuple(kind for kind, _ in FAULT_BUTTONS)
MAX_FAILED_JOINS = 10
"""Wrong join codes (or unknown refresh tokens) one address may send in
:data:`FAILURE_WINDOW` before it gets 429."""
FAILURE_WINDOW = 600.0
MAX_JOINS_PER_ADDRESS = 5
"""Joins one address (other than the instructor's machine) may make: one laptop is one or two
attendees, and whoever holds the code cannot fill the room alone."""
MAX_PROGRESS_BODY = 256
"""Bytes of a progress report (``{"exercise": "thursday_afternoon", "ok": false}`` is 47)."""
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a projector

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_join_code() -> str:
    """Eight characters (40 bits) in two groups, e.g. ``K7QX-P2M9``."""
    chars = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def normalise_code(code: str) -> str:
    return re.sub(r"[\s-]+", "", code).upper()


@dataclass(slots=True)
class Attendee:
    name: str
    account_id: str
    relay_id: str
    client_id: str
    calls: Counter[str] = field(default_factory=Counter)
    exercises: dict[str, bool] = field(default_factory=dict)
    """Notebook 04's checks as the attendee reported them: the last result of each."""


@dataclass(slots=True)
class Classroom:
    join_code: str
    instructor_token: str = field(repr=False)
    trust_loopback: bool = True
    """A direct request from this machine is the instructor's (their browser on the page).
    Tests that play a second attendee on one machine turn it off."""
    attendees: dict[str, Attendee] = field(default_factory=dict)
    """By account id."""
    by_token: dict[bytes, str] = field(default_factory=dict, repr=False)
    """Attendee tokens' SHA-256 → account id (the tokens themselves are not kept)."""
    failed_joins: dict[str, deque[float]] = field(default_factory=dict)
    """Times of recent wrong codes, by address (forgotten after :data:`FAILURE_WINDOW`)."""
    joins: Counter[str] = field(default_factory=Counter)
    """Joins by address."""
    clock: Callable[[], float] = time.monotonic
    injected: list[Injected] = field(default_factory=list)
    """The faults the page's buttons injected, oldest first."""
    attendee_url: str | None = None
    """The URL attendees paste, join code included (the workshop server sets it)."""

    def count(self, account_id: str, endpoint: str) -> None:
        attendee = self.attendees.get(account_id)
        if attendee is not None:
            attendee.calls[endpoint] += 1

    def code_ok(self, code: object) -> bool:
        given = normalise_code(code).encode() if isinstance(code, str) else b""
        return hmac.compare_digest(given, normalise_code(self.join_code).encode())

    def attendee_for(self, token: str | None) -> Attendee | None:
        account_id = self.by_token.get(token_digest(token)) if token else None
        return self.attendees.get(account_id) if account_id is not None else None

    def new_attendee_token(self, attendee: Attendee) -> str:
        """A fresh token for ``attendee``; any earlier one stops working."""
        for digest, account_id in list(self.by_token.items()):
            if account_id == attendee.account_id:
                del self.by_token[digest]
        token = f"wsa_{secrets.token_urlsafe(24)}"
        self.by_token[token_digest(token)] = attendee.account_id
        return token

    def failures(self, address: str) -> int:
        """Wrong codes from ``address`` within the window."""
        times = self.failed_joins.get(address)
        if times is None:
            return 0
        while times and times[0] <= self.clock() - FAILURE_WINDOW:
            times.popleft()
        if not times:
            del self.failed_joins[address]
            return 0
        return len(times)

    def is_instructor(self, request: web.Request) -> bool:
        given = bearer(request)
        if given and hmac.compare_digest(token_digest(given), token_digest(self.instructor_token)):
            return True
        if not self.trust_loopback:
            return False
        if request.headers.get("User-Agent") == DELIVERY_USER_AGENT:
            # The emulator delivering to a callback an attendee pointed at the emulator
            # itself: loopback, but nobody's browser.
            return False
        transport = request.transport
        sockname = transport.get_extra_info("sockname") if transport is not None else None
        local = str(sockname[0]) if sockname else None
        return is_direct_local(request.remote, request.headers, local)


CLASSROOM: web.AppKey[Classroom] = web.AppKey("cronofy_workshop_classroom", Classroom)


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:30]
    return slug or "attendee"


def _sub_calendar_ids(account: AccountRecord) -> list[str]:
    return [c.calendar_id for c in account.calendars.values() if not c.primary and not c.deleted]


def attendee_status(svc: Services, attendee: Attendee, relay_summary: dict[str, Any] | None) -> Any:
    account = svc.state.accounts.get(attendee.account_id)
    if account is None:
        return {
            "name": attendee.name,
            "account_id": attendee.account_id,
            "step": 0,
            "exercises": dict(attendee.exercises),
            "gone": True,
        }
    subs = _sub_calendar_ids(account)
    channels = list(account.channels.values())
    active = [c for c in channels if c.active]
    deliveries = [d for c in channels for d in c.deliveries]
    now: datetime = svc.state.clock()
    expected = set()
    for event in account.events.values():
        if event.calendar_id not in subs or event.deleted or event.status == "cancelled":
            continue
        end = event.end
        if isinstance(end, datetime) and end <= now:
            continue
        expected.add(period_id_for(event.event_uid))
    actual = set(account.periods)
    syncs = attendee.calls["GET /v1/events"]
    queries = attendee.calls["POST /v1/availability"]
    step = 0
    if subs:
        step = 1
        if active:
            step = 2
            if syncs:
                step = 3
                if queries:
                    step = 4
    return {
        "name": attendee.name,
        "account_id": attendee.account_id,
        "step": step,
        "exercises": dict(attendee.exercises),
        "channel_active": bool(active),
        "channels_closed": sum(1 for c in channels if not c.active),
        "deliveries_ok": sum(1 for d in deliveries if d.ok),
        "deliveries_failed": sum(1 for d in deliveries if not d.ok),
        "syncs": syncs,
        "availability_queries": queries,
        "api_calls": sum(attendee.calls.values()),
        "periods": len(actual),
        "periods_expected": len(expected),
        "periods_in_sync": len(expected & actual),
        # Nothing to be in sync with before step 1.
        "in_sync": (expected == actual) if subs else None,
        "relay": relay_summary,
    }


def status(svc: Services, classroom: Classroom, app: web.Application) -> dict[str, Any]:
    active = active_faults(svc, classroom)  # first: a used-up burst leaves the rules too
    relays = app[RELAY].summaries()
    attendees = [
        attendee_status(svc, a, relays.get(a.relay_id)) for a in classroom.attendees.values()
    ]
    return {
        "attendees": attendees,
        "count": len(attendees),
        "at_step": dict(Counter(a["step"] for a in attendees)),
        "in_sync": sum(1 for a in attendees if a.get("in_sync") is True),
        "faults": [rule.json() for rule in svc.faults.rules],
        "faults_injected": [i.kind for i in classroom.injected],
        "active": active,
    }


@dataclass(slots=True)
class Injected:
    kind: str
    at: float
    """When (the classroom's clock)."""
    rule_ids: list[str]
    total: int
    """Requests a burst changes when injected (0 for ``slow``)."""


def active_faults(svc: Services, classroom: Classroom) -> list[dict[str, Any]]:
    """What the page's buttons injected that still acts: which fault, for how long, and for a
    burst how much is left. A burst used up is removed (it changes nothing any more)."""
    active: list[dict[str, Any]] = []
    now = classroom.clock()
    for injected in list(classroom.injected):
        rules = [r for r in svc.faults.rules if r.fault_id in injected.rule_ids]
        left = sum(r.rate_limit_count + r.error_count for r in rules)
        if not rules or (injected.total and left == 0):
            for rule in rules:
                svc.faults.remove(rule.fault_id)
            classroom.injected.remove(injected)
            continue
        active.append(
            {
                "kind": injected.kind,
                "seconds": round(now - injected.at),
                "left": left,
                "total": injected.total,
                "latency_ms": max((r.latency_ms for r in rules), default=0.0),
                "hits": sum(r.hits for r in rules),
            }
        )
    return active


# --------------------------------------------------------------------------- joining


def _attendee_name(value: Any) -> str:
    """A name as the instructor page shows it: text of 1 to 60 printable characters that
    encodes as UTF-8 (a lone surrogate would break every later render of the page)."""
    if not isinstance(value, str) or not value.strip():
        raise unprocessable("name", "errors.required", "give the attendee a name (text)")
    name = value.strip()[:60]
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise unprocessable("name", "errors.invalid", "the name is not valid text") from None
    if not name.isprintable():
        raise unprocessable("name", "errors.invalid", "the name holds control characters")
    return name


def _count_failure(classroom: Classroom, request: web.Request) -> None:
    times = classroom.failed_joins.setdefault(request.remote or "", deque())
    times.append(classroom.clock())


def _refuse_guessers(classroom: Classroom, request: web.Request) -> None:
    if classroom.failures(request.remote or "") >= MAX_FAILED_JOINS:
        raise ApiError(
            429,
            {"error": "too many wrong join codes from this address: wait ten minutes"},
            headers={"Retry-After": str(int(FAILURE_WINDOW))},
            reason="join code guessing",
        )


def _credentials(
    request: web.Request, attendee: Attendee, token: str, account: dict[str, Any] | None
) -> dict[str, Any]:
    svc: Services = request.app[SERVICES]
    application = svc.state.applications[attendee.client_id]
    origin = str(request.url.origin())
    answer: dict[str, Any] = {
        "account_id": attendee.account_id,
        "client_id": application.client_id,
        "client_secret": application.client_secret,
        "attendee_token": token,
        "base_url": origin,
        "relay_url": f"{origin}{RELAY_PATH}/{attendee.relay_id}",
    }
    if account is not None:
        answer["account"] = account
    return answer


async def join(request: web.Request) -> web.Response:
    svc: Services = request.app[SERVICES]
    classroom = request.app[CLASSROOM]
    relay = request.app[RELAY]
    _refuse_guessers(classroom, request)
    body = await read_json(request)
    if not classroom.code_ok(body.get("code")):
        _count_failure(classroom, request)
        raise ApiError(
            403,
            {"error": "wrong or missing join code: paste the whole URL the instructor shows"},
            reason="wrong join code",
        )
    name, tzid = _attendee_name(body.get("name")), body.get("tzid")
    if tzid is None:  # not given: the workshop's default zone
        tzid = "Europe/London"
    errors = Errors()
    zone(errors, "tzid", tzid, required=True)
    errors.raise_if_any()
    address = request.remote or ""
    if not classroom.is_instructor(request) and classroom.joins[address] >= MAX_JOINS_PER_ADDRESS:
        raise ApiError(
            429,
            {"error": f"{MAX_JOINS_PER_ADDRESS} attendees joined from this address already"},
            reason="joins per address",
        )
    client_id = ""  # set once the box is open: a full relay must not leave an application

    def signed_for_attendee(raw: bytes, header: str | None) -> bool:
        application = svc.state.applications.get(client_id)  # its secrets as they rotate
        return application is not None and is_valid(raw, header, application.client_secrets)

    token = f"wsa_{secrets.token_urlsafe(24)}"
    try:
        box = relay.open(token, label=name, verify=signed_for_attendee)
    except RelayFull:
        raise ApiError(
            503, {"error": "the workshop is full: ask the instructor"}, reason="full"
        ) from None
    application = svc.state.create_application(name=f"workshop: {name}")
    client_id = application.client_id
    email = f"{_slug(name)}-{secrets.token_hex(3)}@workshop.example"
    account = svc.state.create_account(
        name=name, email=email, tzid=str(tzid), client_id=application.client_id
    )
    attendee = Attendee(name, account.account_id, box.relay_id, application.client_id)
    classroom.attendees[account.account_id] = attendee
    classroom.by_token[token_digest(token)] = account.account_id
    classroom.joins[address] += 1
    return web.json_response(_credentials(request, attendee, token, account.json()), status=201)


async def rejoin(request: web.Request) -> web.Response:
    """Credentials again for whoever holds the account's refresh token (a resumed kernel)."""
    svc: Services = request.app[SERVICES]
    classroom = request.app[CLASSROOM]
    _refuse_guessers(classroom, request)
    body = await read_json(request)
    raw = body.get("refresh_token")
    refresh = svc.state.refresh_tokens.get(raw) if isinstance(raw, str) and raw else None
    attendee = (
        classroom.attendees.get(refresh.account_id)
        if refresh is not None and not refresh.revoked
        else None
    )
    if attendee is None:
        _count_failure(classroom, request)
        raise ApiError(
            403, {"error": "not an attendee's refresh token: join again"}, reason="rejoin"
        )
    token = classroom.new_attendee_token(attendee)
    request.app[RELAY].boxes[attendee.relay_id].token_digest = token_digest(token)
    return web.json_response(_credentials(request, attendee, token, None))


async def progress(request: web.Request) -> web.Response:
    """An attendee's check result: ``{"exercise": one of EXERCISES, "ok": true|false}``, for the
    attendee whose token it carries (the instructor has no exercises to report)."""
    classroom = request.app[CLASSROOM]
    attendee = classroom.attendee_for(bearer(request))
    if attendee is None:
        raise ApiError(
            403, {"error": "report with your own attendee token"}, reason="not an attendee"
        )
    if len(await request.read()) > MAX_PROGRESS_BODY:
        raise ApiError(413, {"error": "a progress report is a few bytes"}, reason="too large")
    body = await read_json(request)
    exercise, ok = body.get("exercise"), body.get("ok")
    errors = Errors()
    if set(body) - {"exercise", "ok"}:
        errors.add("body", "errors.invalid", "only exercise and ok")
    if not isinstance(exercise, str) or exercise not in EXERCISES:
        errors.add("exercise", "errors.invalid", f"one of {', '.join(EXERCISES)}")
    if not isinstance(ok, bool):
        errors.add("ok", "errors.invalid", "true or false")
    errors.raise_if_any()
    assert isinstance(exercise, str) and isinstance(ok, bool)
    attendee.exercises[exercise] = ok
    return web.json_response({"exercise": exercise, "ok": ok})


async def get_status(request: web.Request) -> web.Response:
    return web.json_response(status(request.app[SERVICES], request.app[CLASSROOM], request.app))


def fault_rules(kind: str, attendees: int) -> list[FaultRule]:
    """What one button press injects, sized to the class (every attendee gets some)."""
    n = max(3, 3 * attendees)
    if kind == "429_burst":
        return [FaultRule(endpoint="/v1", rate_limit_count=n, retry_after=1.0)]
    if kind == "503_burst":
        return [FaultRule(endpoint="/v1", error_count=n, error_status=503)]
    if kind == "slow":
        return [FaultRule(endpoint="/v1", latency_ms=800.0)]
    return []


async def inject_fault(request: web.Request) -> web.StreamResponse:
    svc: Services = request.app[SERVICES]
    classroom = request.app[CLASSROOM]
    is_form = request.content_type == "application/x-www-form-urlencoded"
    if is_form:
        kind = str((await request.post()).get("kind", ""))
    else:
        kind = str((await read_json(request)).get("kind", ""))
    if kind not in FAULT_KINDS:
        raise unprocessable("kind", "errors.invalid", f"one of {', '.join(FAULT_KINDS)}")
    if kind == "clear":
        svc.faults.clear()
        classroom.injected.clear()
    rules = fault_rules(kind, len(classroom.attendees))
    for rule in rules:
        svc.faults.add(rule)
    if rules:
        total = sum(r.rate_limit_count + r.error_count for r in rules)
        classroom.injected.append(
            Injected(kind, classroom.clock(), [r.fault_id for r in rules], total)
        )
    if is_form:
        raise web.HTTPSeeOther(WORKSHOP_PATH)
    return web.json_response({"kind": kind, "faults": [r.json() for r in svc.faults.rules]})


async def page(request: web.Request) -> web.Response:
    """The instructor page; ``?part=main`` is its live part alone (the page fetches it every
    two seconds instead of reloading)."""
    data = status(request.app[SERVICES], request.app[CLASSROOM], request.app)
    classroom = request.app[CLASSROOM]
    url = classroom.attendee_url or f"{request.url.origin()}/?code={classroom.join_code}"
    render = render_main if request.query.get("part") == "main" else render_page
    return web.Response(
        text=render(data, url, classroom.join_code),
        content_type="text/html",
        # Not in another site's frame: a hidden page must not click the fault buttons.
        headers={"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"},
    )


# --------------------------------------------------------------------------- who may do what

_PUBLIC = frozenset(
    {
        ("POST", JOIN_PATH),
        ("POST", REJOIN_PATH),
        ("POST", RELAY_PATH + "/{relay_id}/{tail}"),
        ("GET", RELAY_PATH + "/{relay_id}"),  # the relay answers only the box's owner
    }
)
_SIGN_UP_PATHS = ("/oauth/authorize", "/oauth/relink")
"""Cronofy's consent pages: each visit signs up an account, without bound; attendees join."""
_ATTENDEE: dict[tuple[str, str], str | None] = {
    ("GET", "/_emulator/accounts/{account_id}"): "account_id",
    ("PATCH", "/_emulator/profiles/{profile_id}"): "profile_id",
    ("POST", "/_emulator/profiles/{profile_id}/disconnect"): "profile_id",
    ("POST", "/_emulator/profiles/{profile_id}/reconnect"): "profile_id",
    ("POST", "/_emulator/profiles/{profile_id}/calendars"): "profile_id",
    ("DELETE", "/_emulator/calendars/{calendar_id}"): "calendar_id",
    ("GET", "/_emulator/calendars/{calendar_id}/events"): "calendar_id",
    ("POST", "/_emulator/calendars/{calendar_id}/events"): "calendar_id",
    ("PATCH", "/_emulator/events/{event_uid}"): "event_uid",
    ("DELETE", "/_emulator/events/{event_uid}"): "event_uid",
    ("DELETE", "/_emulator/series/{series_identifier}"): "series_identifier",
    ("POST", "/_emulator/notifications/wait"): None,
    ("POST", PROGRESS_PATH): None,  # the handler records it for the token's attendee only
}
"""What an attendee may do, and the path parameter naming the account it must own."""


def _owner(state: EmulatorState, param: str, value: str) -> str | None:
    """The account that owns the resource ``param`` = ``value``, or ``None``."""
    try:
        if param == "account_id":
            return state.account(value).account_id
        if param == "profile_id":
            return state.users.profile(value)[0].account_id
        if param == "calendar_id":
            return state.calendars.calendar_account(value).account_id
        if param == "event_uid":
            return state.events.event(value)[0].account_id
    except ApiError:
        return None
    owners = {
        a.account_id
        for a in state.accounts.values()
        for e in a.events.values()
        if e.series_identifier == value
    }
    return owners.pop() if len(owners) == 1 else None


@web.middleware
async def workshop_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every ``/_emulator`` route is the instructor's, except joining, the relay (which checks
    its owner) and playing the user of one's own account."""
    info = request.match_info
    resource = info.route.resource if info.route is not None else None
    if request.path.startswith(_SIGN_UP_PATHS):
        raise ApiError(
            403,
            {"error": "a workshop gives each attendee an account when they join"},
            reason="no sign-up in a workshop",
        )
    if not request.path.startswith("/_emulator") or resource is None:
        return await handler(request)
    key = (request.method, resource.canonical)
    classroom = request.app[CLASSROOM]
    if key in _PUBLIC or classroom.is_instructor(request):
        return await handler(request)
    attendee = classroom.attendee_for(bearer(request))
    if attendee is None or key not in _ATTENDEE:
        raise ApiError(
            403,
            {"error": "the instructor's: open it on the machine that runs the workshop"},
            reason="not the instructor",
        )
    param = _ATTENDEE[key]
    if param is not None:
        owner = _owner(request.app[SERVICES].state, param, info[param])
        if owner != attendee.account_id:
            raise ApiError(404, reason="not this attendee's")
    return await handler(request)


def add_classroom_routes(
    app: web.Application,
    relay: Relay,
    *,
    join_code: str | None = None,
    instructor_token: str | None = None,
    trust_loopback: bool = True,
) -> Classroom:
    """Serve the workshop routes, the relay and the guard on the emulator's ``app`` (before
    it starts)."""
    classroom = Classroom(
        join_code=join_code or new_join_code(),
        instructor_token=instructor_token or f"wsi_{secrets.token_urlsafe(24)}",
        trust_loopback=trust_loopback,
    )
    app[CLASSROOM] = classroom
    add_relay_routes(app, relay)
    app.middlewares.append(workshop_guard)
    app.router.add_get(WORKSHOP_PATH, page)
    app.router.add_get(WORKSHOP_PATH + "/status", get_status)
    app.router.add_post(JOIN_PATH, join)
    app.router.add_post(REJOIN_PATH, rejoin)
    app.router.add_post(WORKSHOP_PATH + "/fault", inject_fault)
    app.router.add_post(PROGRESS_PATH, progress)

    async def count_call(request: web.Request, response: web.StreamResponse) -> None:
        account_id = request.get(ACCOUNT_ID)
        info = request.match_info
        resource = info.route.resource if info is not None and info.route else None
        if account_id is None or resource is None:
            return
        classroom.count(account_id, f"{request.method} {resource.canonical.rstrip('/')}")

    app.on_response_prepare.append(count_call)
    return classroom
