"""The workshop on one emulator: attendees join, the instructor watches and injects faults.

``cronofy-avail workshop`` serves one emulator with these routes added:

* ``POST /_emulator/workshop/join`` (``{"name"}``): 201 an isolated account (tokens), the
  application's ``client_id``/``client_secret``, the ``base_url``, and a relay box
  (``relay_url``) for a receiver the emulator cannot reach;
* ``GET /_emulator/workshop``: the instructor page (HTML, refreshes itself): each attendee's
  step, deliveries, syncs, periods in sync;
* ``GET /_emulator/workshop/status``: the same as JSON;
* ``POST /_emulator/workshop/fault`` (``{"kind"}`` or a form): a fault for everyone,
  ``429_burst``, ``503_burst``, ``slow`` or ``clear``.

Everything is computed from the emulator's own state (no attendee reports anything): step 1 is
a sub calendar created through the API, step 2 an active channel, step 3 a sync (an events read
after the channel), step 4 an availability query. "In sync" compares the periods of the account
with the live, future events of its sub calendars, by the period id the toolkit derives.
The page never shows a token or the client secret.
"""

from __future__ import annotations

import html
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from cronofy_avail.core.mapping import period_id_for
from cronofy_avail.emulator.faults import FaultRule
from cronofy_avail.emulator.http import ACCOUNT_ID, SERVICES, Services, read_json
from cronofy_avail.emulator.relay import RELAY, RELAY_PATH
from cronofy_avail.emulator.state import AccountRecord
from cronofy_avail.emulator.validation import Errors, unprocessable, zone

WORKSHOP_PATH = "/_emulator/workshop"
FAULT_KINDS = ("429_burst", "503_burst", "slow", "clear")


@dataclass(slots=True)
class Attendee:
    name: str
    account_id: str
    relay_id: str
    calls: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class Classroom:
    attendees: dict[str, Attendee] = field(default_factory=dict)
    """By account id."""
    faults_injected: list[str] = field(default_factory=list)
    attendee_url: str | None = None
    """The URL the page tells attendees to paste (the workshop command sets it: the page may
    be opened as localhost on the instructor's laptop); else the URL the page was opened at."""

    def count(self, account_id: str, endpoint: str) -> None:
        attendee = self.attendees.get(account_id)
        if attendee is not None:
            attendee.calls[endpoint] += 1


CLASSROOM: web.AppKey[Classroom] = web.AppKey("cronofy_emulator_classroom", Classroom)


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:30]
    return slug or "attendee"


def _sub_calendar_ids(account: AccountRecord) -> list[str]:
    return [c.calendar_id for c in account.calendars.values() if not c.primary and not c.deleted]


def attendee_status(svc: Services, attendee: Attendee, relay_summary: dict[str, Any] | None) -> Any:
    account = svc.state.accounts.get(attendee.account_id)
    if account is None:
        return {"name": attendee.name, "account_id": attendee.account_id, "step": 0, "gone": True}
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
        "faults_injected": classroom.faults_injected,
    }


# --------------------------------------------------------------------------- handlers


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


async def join(request: web.Request) -> web.Response:
    svc: Services = request.app[SERVICES]
    classroom = request.app[CLASSROOM]
    body = await read_json(request)
    name, tzid = _attendee_name(body.get("name")), body.get("tzid")
    if tzid is None:  # not given: the workshop's default zone
        tzid = "Europe/London"
    errors = Errors()
    zone(errors, "tzid", tzid, required=True)
    errors.raise_if_any()
    email = f"{_slug(name)}-{secrets.token_hex(3)}@workshop.example"
    account = svc.state.create_account(name=name, email=email, tzid=str(tzid))
    box = request.app[RELAY].open(label=name)
    classroom.attendees[account.account_id] = Attendee(name, account.account_id, box.relay_id)
    origin = str(request.url.origin())
    return web.json_response(
        {
            "account": account.json(),
            "client_id": svc.state.client_id,
            "client_secret": svc.state.client_secret,
            "base_url": origin,
            "relay_url": f"{origin}{RELAY_PATH}/{box.relay_id}",
        },
        status=201,
    )


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
    for rule in fault_rules(kind, len(classroom.attendees)):
        svc.faults.add(rule)
    classroom.faults_injected.append(kind)
    if is_form:
        raise web.HTTPSeeOther(WORKSHOP_PATH)
    return web.json_response({"kind": kind, "faults": [r.json() for r in svc.faults.rules]})


_STEPS = ("joined", "1 sub calendar", "2 channel", "3 syncing", "4 availability")


def _sync_class(in_sync: bool | None) -> str:
    if in_sync is None:
        return ""
    return "ok" if in_sync else "bad"


def _sync_text(a: dict[str, Any]) -> str:
    if a.get("in_sync") is None:
        return "-"
    counts = f"{a.get('periods_in_sync', 0)}/{a.get('periods_expected', 0)}"
    return counts if a["in_sync"] else counts + " (not in sync)"


def render_page(data: dict[str, Any], attendee_url: str) -> str:
    esc = html.escape
    rows = []
    for a in data["attendees"]:
        relay = a.get("relay") or {}
        since = relay.get("seconds_since_poll")
        rows.append(
            "<tr>"
            f"<td>{esc(a['name'])}</td>"
            f"<td>{esc(_STEPS[a['step']])}</td>"
            f"<td>{a.get('deliveries_ok', 0)} ok / {a.get('deliveries_failed', 0)} failed</td>"
            f"<td>{a.get('syncs', 0)}</td>"
            f"<td class='{_sync_class(a.get('in_sync'))}'>{_sync_text(a)}</td>"
            f"<td>{'' if since is None else f'{since}s ago'}"
            f"{' · ' + str(relay.get('held')) + ' held' if relay.get('held') else ''}</td>"
            "</tr>"
        )
    buttons = "".join(
        f"<button name='kind' value='{k}'>{esc(k.replace('_', ' '))}</button> " for k in FAULT_KINDS
    )
    faults = ", ".join(esc(f"{r['endpoint']} hits={r['hits']}") for r in data["faults"]) or "none"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="3">
<title>cronofy-avail workshop</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.3em .8em;text-align:left}}
.ok{{color:#176b2c}}.bad{{color:#a11}}code{{font-size:1.2em}}</style></head><body>
<h1>Workshop</h1>
<p>Attendees paste this URL into the wizard's "shared emulator" option:
<code>{esc(attendee_url)}</code></p>
<p>{data["count"]} attendee(s) · {data["in_sync"]} in sync</p>
<table><tr><th>attendee</th><th>step</th><th>deliveries</th><th>syncs</th>
<th>periods in sync</th><th>relay poll</th></tr>
{"".join(rows)}
</table>
<form method="post" action="{WORKSHOP_PATH}/fault"><p>Inject for everyone: {buttons}</p></form>
<p>Active faults: {faults}</p>
</body></html>"""


async def page(request: web.Request) -> web.Response:
    data = status(request.app[SERVICES], request.app[CLASSROOM], request.app)
    url = request.app[CLASSROOM].attendee_url or str(request.url.origin())
    return web.Response(text=render_page(data, url), content_type="text/html")


def add_classroom_routes(app: web.Application, attendee_url: str | None = None) -> Classroom:
    """Serve the workshop routes on the emulator's ``app`` (before it starts)."""
    classroom = Classroom(attendee_url=attendee_url)
    app[CLASSROOM] = classroom
    app.router.add_get(WORKSHOP_PATH, page)
    app.router.add_get(WORKSHOP_PATH + "/status", get_status)
    app.router.add_post(WORKSHOP_PATH + "/join", join)
    app.router.add_post(WORKSHOP_PATH + "/fault", inject_fault)

    async def count_call(request: web.Request, response: web.StreamResponse) -> None:
        account_id = request.get(ACCOUNT_ID)
        info = request.match_info
        resource = info.route.resource if info is not None and info.route else None
        if account_id is None or resource is None:
            return
        classroom.count(account_id, f"{request.method} {resource.canonical.rstrip('/')}")

    app.on_response_prepare.append(count_call)
    return classroom
