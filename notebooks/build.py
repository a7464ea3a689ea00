"""Write the notebooks in this folder from the Python source below.

The notebooks are generated, not edited by hand, so that they stay thin and consistent with
the API: cells have stable ids (``<notebook>-<nn>``), no outputs and no execution counts, and
``tests/notebook/test_notebooks.py`` fails when a committed notebook differs from what this script
writes. Run ``python notebooks/build.py`` after changing a cell here; ``--check`` only compares.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

_nbf: Any = nbformat  # untyped library: keep mypy --strict honest about it in one place

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Md:
    text: str


@dataclass(frozen=True)
class Code:
    source: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Exercise:
    """A cell that differs between ``04_exercises`` (``task``) and ``04_solutions``."""

    task: str
    solution: str


Cell = Md | Code | Exercise


@dataclass
class Spec:
    name: str
    cells: list[Cell] = field(default_factory=list)
    solutions: bool | None = None
    """For notebooks with :class:`Exercise` cells: which side to write."""


def _clean(text: str) -> str:
    return text.strip("\n")


def build(spec: Spec) -> NotebookNode:
    nb: NotebookNode = _nbf.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    stem = spec.name.split("_", 1)[0] + ("s" if spec.solutions else "")
    for index, item in enumerate(spec.cells):
        cell_id = f"nb{stem}-{index:02d}"
        if isinstance(item, Md):
            cell = _nbf.v4.new_markdown_cell(_clean(item.text))
        elif isinstance(item, Code):
            cell = _nbf.v4.new_code_cell(_clean(item.source))
            if item.tags:
                cell.metadata["tags"] = list(item.tags)
        else:
            source = item.solution if spec.solutions else item.task
            cell = _nbf.v4.new_code_cell(_clean(source))
            cell.metadata["tags"] = ["solution" if spec.solutions else "exercise"]
        cell.id = cell_id
        nb.cells.append(cell)
    _nbf.validate(nb)
    return nb


def render(nb: NotebookNode) -> str:
    text: str = _nbf.writes(nb)
    return text + "\n"


# =========================================================================== 01

NB01 = Spec(
    "01_walkthrough",
    [
        Md(
            """
# 01 · The four steps, with the wizard

A user keeps an **Availability** calendar; every event in it becomes a Cronofy *Available
Period*, and availability queries with managed availability only offer those times. The wizard
below walks through the four steps against an emulator of Cronofy that runs inside this kernel,
together with the webhook receiver — nothing to configure, no account, no network.

- **0. Connect**: to the emulator in this kernel (or a workshop's, see below);
- **1. Sub calendar**: create the Availability calendar in the user's profile;
- **2. Channel**: a push channel filtered to it, with the receiver as callback;
- **3. Sync**: on each notification, read the changed events and upsert/delete periods;
- **4. Availability**: query availability with managed availability.

Run the next cell: step 0 (Connect) is done for you. Then press each step's button and
**Next**, or run the cell after it to do all four.

*In a workshop*, connect to the instructor's emulator instead: in the next cell, replace the
`Wizard.start()` line with the URL the instructor shows and your name, e.g.

```python
wizard = await Wizard.start(mode="shared", emulator_url="http://192.168.1.20:8181", name="Ada")
```

You get an account of your own there, the deliveries reach this kernel through the emulator's
relay (no public URL needed), and the instructor's page shows which step you reached.
"""
        ),
        Code(
            """
from cronofy_avail import Wizard

wizard = await Wizard.start()
wizard
"""
        ),
        Md(
            """
To run every step without clicking (what a test or a hurried reader does):
"""
        ),
        Code(
            """
await wizard.run_all()
print({key: str(step.state) for key, step in wizard.steps.items()})
"""
        ),
        Md(
            """
Now add availability as the user. In the week view, **drag across empty time** on a day; or
use step 3's buttons; or run the cell below, which puts two events in the Availability
calendar. Each time the emulator sends a signed notification, the receiver verifies it, the
sync engine plans and applies, and the new period appears on the timeline and in step 3's
table. Step 4 shows the slots with and without managed availability side by side.
"""
        ),
        Code(
            """
c = wizard.controller
await c.add_timed(c.tomorrow_at(10), c.tomorrow_at(12), summary="Morning")
await c.add_timed(c.tomorrow_at(14), c.tomorrow_at(15), summary="After lunch")
await wizard.settle()   # the notifications, the syncs they start and the redraw are done

for period_id, start, end, event in c.period_rows():
    print(f"{start} - {end}  {event}")
print(wizard.steps["availability"].summary)
"""
        ),
        Md(
            """
When you are done, stop the emulator and the receiver this wizard started (re-running the
first cell starts fresh ones).

Next: `02_under_the_hood.ipynb` does the same with the library, call by call.
"""
        ),
        Code("await wizard.shutdown()", tags=("teardown",)),
    ],
)

# =========================================================================== 02

NB02 = Spec(
    "02_under_the_hood",
    [
        Md(
            """
# 02 · Under the hood: the four steps with the library

The same four steps as notebook 01, without the wizard: the client calls, a signed
notification built and verified by hand, the planner's dry run, why the sync engine keeps a
watermark and coalesces notifications, and the busy-calendar trap.

Everything runs in this kernel's event loop against the bundled emulator (a fake Cronofy over
real HTTP on 127.0.0.1), so top-level `await` just works.
"""
        ),
        Code(
            """
import asyncio
import json
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import aiohttp

from contextlib import AsyncExitStack

from cronofy_avail import (
    Emulator, MemoryStore, create_sub_calendar, onboard_user, query_availability, sign,
    verify_notification,
)
from cronofy_avail.app.settings import Settings
from cronofy_avail.app.system import for_app, open_system
from cronofy_avail.core.errors import ServerError
from cronofy_avail.core.mapping import MappingPolicy, period_id_for
from cronofy_avail.core.models import (
    AvailabilityRequest, Duration, Member, ParticipantGroup, QueryPeriod,
)
from cronofy_avail.core.retry import RetryPolicy
from cronofy_avail.core.planner import plan_reconcile
from cronofy_avail.core.signatures import SIGNATURE_HEADER, SignatureVerificationError
from cronofy_avail.runtime.steps import SetupError

TZ = "Europe/London"
zone = ZoneInfo(TZ)
day = (datetime.now(zone) + timedelta(days=2)).date()   # a day safely in the future


def at(hour, minute=0):
    return datetime.combine(day, time(hour, minute), zone)


def iso(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local(value):
    return value.astimezone(zone).strftime("%a %H:%M")


emu = await Emulator(debounce=0.05, retry_initial_delay=0.05).start()
account = await emu.create_account(tzid=TZ, email="ada@example.com")
session = aiohttp.ClientSession()
client = emu.client(account, session=session)
print("emulator at", emu.base_url)
"""
        ),
        Md(
            """
## Step 1 — the sub calendar

`create_sub_calendar` picks the first connected profile and finds or creates the calendar
named "Availability" (run it twice: the second time it reuses it).
"""
        ),
        Code(
            """
profiles = await client.list_profiles()
calendar, created = await create_sub_calendar(client)
print("profiles:", [p.profile_name for p in profiles])
print(calendar.calendar_name, "created" if created else "reused")
again, created_again = await create_sub_calendar(client)
assert again.calendar_id == calendar.calendar_id and not created_again
"""
        ),
        Md(
            """
## Step 2 — the receiver and the channel

The receiver is the webhook server (`webhook_server`), the same one `cronofy-avail serve` runs.
`open_system` builds it from the settings the way every command does, with what stands behind
it: a store (in memory here), the sync engine and the coordinator (with quick retries, so the
failures shown below heal in a moment). `onboard_user`
records the user, creates the channel filtered to the sub calendar with a callback URL that
carries a per-user secret key, and asks for a first full reconcile. Cronofy (here, the
emulator) answers a new channel with a signed `verification` notification.
"""
        ),
        Code(
            """
store = MemoryStore()
quick = RetryPolicy(base_delay=0.05)
settings = for_app(   # the emulator's application; every other setting as configured
    Settings(), client_id=emu.client_id, client_secret=emu.client_secret,
    api_base_url=emu.base_url,
)
running = AsyncExitStack()   # closes the receiver, then the coordinator, at the end
system = await running.enter_async_context(
    open_system(settings, store=store, session=session, retry=quick)
)
coordinator = await system.coordinator(retry_delays=(0.05, 0.1))
receiver = await system.receiver(coordinator)
receiver_url = receiver.url

user, channel = await onboard_user(
    store, client, user_id="ada", public_base_url=receiver_url, tzid=TZ
)
coordinator.request("ada", full=True)


async def settle():
    \"\"\"Wait for every delivery and every sync it started (a sync may end after a delivery).\"\"\"
    async with asyncio.timeout(30):
        for _ in range(3):
            await emu.wait_notifications()
            await coordinator.wait_idle()


await settle()
print("channel", channel.channel_id, "filtered to", channel.filters)
print("callback", channel.callback_url.replace(user.callback_key, "<key>"))
for delivery in await store.list_deliveries():
    print(delivery.notification_type, "verified" if delivery.verified else "REJECTED",
          delivery.outcome)
"""
        ),
        Md(
            """
### A signed notification, by hand

Cronofy signs the raw body with HMAC-SHA256 under the application's client secret, base64, in
the `Cronofy-HMAC-SHA256` header (several values, comma-separated, while a secret rotates).
Verify the raw bytes first, then parse. A changed byte fails; so does a missing header.
"""
        ),
        Code(
            """
body = json.dumps({
    "notification": {"type": "change", "changes_since": iso(datetime.now(UTC))},
    "channel": {"channel_id": channel.channel_id},
}).encode()
signature = sign(body, emu.client_secrets)
envelope = verify_notification(body, {SIGNATURE_HEADER: signature}, emu.client_secrets)
print("verified:", envelope.type, envelope.changes_since)

for label, raw, headers in [
    ("tampered body", body.replace(b"change", b"chance"), {SIGNATURE_HEADER: signature}),
    ("no signature", body, {}),
]:
    try:
        verify_notification(raw, headers, emu.client_secrets)
    except SignatureVerificationError as exc:
        print(f"{label}: refused ({exc.reason})")

# The receiver does the same on every POST: a forged delivery is refused before any work.
async with session.post(user.callback_url, data=body, headers={SIGNATURE_HEADER: "forged"}) as r:
    print("forged POST ->", r.status)
async with session.post(user.callback_url, data=body, headers={SIGNATURE_HEADER: signature}) as r:
    print("signed POST ->", r.status)
await settle()
"""
        ),
        Md(
            """
## Step 3 — play the user, watch the periods

`emu.add_event` is the user adding an event in their calendar app. The emulator notifies the
channel, the receiver verifies and acknowledges at once, the coordinator runs a sync: read the
events changed since `changes_since`, plan, apply.
"""
        ),
        Code(
            """
morning = emu.add_event(
    calendar.calendar_id, start=iso(at(9)), end=iso(at(12)), summary="Free morning"
)
all_day = emu.add_event(
    calendar.calendar_id, start=(day + timedelta(days=1)).isoformat(),
    end=(day + timedelta(days=2)).isoformat(), summary="Whole day",
)
await settle()
periods = await client.list_available_periods()
for p in sorted(periods, key=lambda p: p.start):
    print(p.available_period_id, local(p.start), "→", local(p.end))
assert {p.available_period_id for p in periods} == {
    period_id_for(morning["event_uid"]), period_id_for(all_day["event_uid"])
}
"""
        ),
        Md(
            """
### The planner's dry run

The planner is pure: events and what we know in, actions out. That makes a dry run free. First
the engine's own dry run (a full reconcile, not applied): everything is in sync. Then the pure
planner asked "what if all-day events were skipped?": it would delete the all-day period, and
says why. Nothing is written.
"""
        ),
        Code(
            """
dry = await coordinator.sync_now("ada", full=True, dry_run=True)
print(dry.plan.explain(zone))
print()
events = await client.read_events(
    tzid=TZ, calendar_ids=[calendar.calendar_id], include_deleted=True, include_moved=True
)
what_if = plan_reconcile(
    events,
    await store.get_periods("ada"),
    await client.list_available_periods(),
    MappingPolicy(tzid=TZ, include_all_day=False),
    datetime.now(UTC),
    calendar_id=calendar.calendar_id,
)
print(what_if.explain(zone))
print("counts:", what_if.counts())
"""
        ),
        Md(
            """
### Why a watermark and coalescing: the seed's loop loses a change

The pattern's seed is six lines: on a notification, read events since `changes_since`, upsert
a period per event, delete the deleted ones. Run two of them at once (two notifications close
together, as happens whenever a user moves an event twice) and the older read can be written
last. Below, a second account runs the seed's loop; we force the interleaving that load
produces by chance: notification A reads, the user moves the event, notification B reads and
writes, then A writes its stale view.
"""
        ),
        Code(
            """
seed_account = await emu.create_account(tzid=TZ, email="seed@example.com")
seed_client = emu.client(seed_account, session=session, retry=quick)
seed_calendar, _ = await create_sub_calendar(seed_client)


async def seed_loop(changes_since, pause=None):
    events = await seed_client.read_changed_events(
        tzid=TZ, calendar_id=seed_calendar.calendar_id, changes_since=changes_since)
    if pause:                    # where the event loop switches to another notification
        await pause()
    for e in events:
        if e.deleted:
            await seed_client.delete_available_period(period_id_for(e.event_uid))
        else:
            await seed_client.upsert_available_period(period_id_for(e.event_uid), e.start, e.end)


since = datetime.now(UTC) - timedelta(seconds=1)
slot = emu.add_event(seed_calendar.calendar_id, start=iso(at(9)), end=iso(at(10)))
a_has_read, let_a_write = asyncio.Event(), asyncio.Event()


async def pause_a():
    a_has_read.set()
    await let_a_write.wait()


notification_a = asyncio.create_task(seed_loop(since, pause_a))
await a_has_read.wait()
emu.update_event(slot["event_uid"], start=iso(at(14)), end=iso(at(15)))   # the user moves it
await seed_loop(since)                                                    # notification B
let_a_write.set()
await notification_a

seed_period = (await seed_client.list_available_periods())[0]
print("event  :", local(at(14)), "→", local(at(15)))
print("period :", local(seed_period.start), "→", local(seed_period.end))
seed_lost_change = seed_period.start != at(14)
print("the seed loop lost the move" if seed_lost_change else "no loss this time")
"""
        ),
        Md(
            """
### …and the engine does not

The coordinator runs one sync per user at a time; notifications arriving during a sync fold
into **one** follow-up, and the watermark (where the next incremental read starts) moves only
after every write of a sync landed. Same story against the real receiver: the user adds an
event, and moves it twice while the first sync is still reading (a 300 ms latency on
`GET /v1/events` keeps it reading long enough).
"""
        ),
        Code(
            """
fault = emu.add_fault(endpoint="GET /v1/events", latency_ms=300)
requests_before = coordinator.stats.requests["ada"]
syncs_before = coordinator.stats.syncs["ada"]
moving = emu.add_event(calendar.calendar_id, start=iso(at(15)), end=iso(at(16)))
async with asyncio.timeout(10):
    while not coordinator.is_syncing("ada"):          # wait for the first sync to start
        await asyncio.sleep(0.01)
emu.update_event(moving["event_uid"], start=iso(at(16)), end=iso(at(17)))
emu.update_event(moving["event_uid"], start=iso(at(17)), end=iso(at(18)))
await settle()
emu.faults.remove(fault.fault_id)

engine_period = next(
    p for p in await client.list_available_periods()
    if p.available_period_id == period_id_for(moving["event_uid"])
)
print("event  :", local(at(17)), "→", local(at(18)))
print("period :", local(engine_period.start), "→", local(engine_period.end))
print("sync requests:", coordinator.stats.requests["ada"] - requests_before,
      "syncs run:", coordinator.stats.syncs["ada"] - syncs_before)
engine_kept_change = engine_period.start == at(17)
print("the engine kept the move" if engine_kept_change else "LOST")
"""
        ),
        Md(
            """
### A write that fails: the seed forgets, the watermark remembers

Cronofy sends one notification per change and never resends it after your 2xx. If the seed
loop's write fails (a 503 outlasting the client's retries), the change is gone for good. The
engine records the notification's intent first, and moves its watermark (where the next
incremental read starts) only after every write of a sync landed: a failed sync is retried
from the same place.
"""
        ),
        Code(
            """
fault = emu.add_fault(endpoint="POST /v1/available_periods", error_count=5, error_status=503)
since = datetime.now(UTC) - timedelta(seconds=1)
lunch = emu.add_event(seed_calendar.calendar_id, start=iso(at(12)), end=iso(at(13)))
try:
    await seed_loop(since)
except ServerError as exc:
    print("seed loop: the write failed with", exc.status, "after the client's retries")
emu.faults.remove(fault.fault_id)
seed_ids = {p.available_period_id for p in await seed_client.list_available_periods()}
seed_lost_write = period_id_for(lunch["event_uid"]) not in seed_ids
print("seed loop: lunch has a period?", not seed_lost_write)

before = await store.get_user("ada")
fault = emu.add_fault(endpoint="POST /v1/batch", error_count=5, error_status=503)
lunch_ada = emu.add_event(calendar.calendar_id, start=iso(at(12)), end=iso(at(13)))
await settle()
emu.faults.remove(fault.fault_id)
after = await store.get_user("ada")
ada_ids = {p.available_period_id for p in await client.list_available_periods()}
engine_kept_write = period_id_for(lunch_ada["event_uid"]) in ada_ids
print("engine: failed batch calls", fault.hits, "· coordinator retries",
      coordinator.stats.retries["ada"])
print("engine: watermark", before.watermark.strftime("%H:%M:%S.%f"), "→",
      after.watermark.strftime("%H:%M:%S.%f"), "· lunch has a period?", engine_kept_write)
"""
        ),
        Md(
            """
## Step 4 — availability, and the busy-calendar trap

With managed availability, a member is available only inside their Available Periods. But the
sub calendar's own events are ordinary opaque events: if the query consults the sub calendar,
each event is busy time that cancels the very period it created. Leave the sub calendar out of
the consulted calendars (`query_availability` does, and refuses the trap).
"""
        ),
        Code(
            """
def ask(calendar_ids):
    return AvailabilityRequest(
        participants=[ParticipantGroup(members=[Member(
            sub=account.sub, calendar_ids=calendar_ids, managed_availability=True)],
            required="all")],
        required_duration=Duration(minutes=60),
        query_periods=[QueryPeriod(start=at(0), end=at(0) + timedelta(days=1))],
        response_format="slots",
    )


trap = await client.availability(ask([account.calendar_id, calendar.calendar_id]))
print("consulting the sub calendar:", len(trap.results), "slots   ← the trap")
answer = await query_availability(
    client, sub=account.sub, sub_calendar_id=calendar.calendar_id,
    start=at(0), end=at(0) + timedelta(days=1), minutes=60,
)
print("leaving it out:            ", len(answer.results), "slots:",
      [local(s.start) for s in answer.results])
try:
    await query_availability(
        client, sub=account.sub, sub_calendar_id=calendar.calendar_id, start=at(0),
        end=at(0) + timedelta(days=1), calendar_ids=[calendar.calendar_id],
    )
except SetupError as exc:
    print("query_availability refuses the trap:", exc)
"""
        ),
        Md("## Teardown"),
        Code(
            """
await running.aclose()
await session.close()
await emu.stop()
""",
            tags=("teardown",),
        ),
    ],
)

# =========================================================================== 03

NB03 = Spec(
    "03_live_with_real_cronofy",
    [
        Md(
            """
# 03 · Live, with real Cronofy

The four steps against the real service, with a real public callback (ngrok). The same code
runs against the emulator: set `CRONOFY_API_BASE_URL` to an emulator's URL and every cell
except those marked **needs a person or the internet** runs offline (the tests do exactly
that).

## Prerequisites checklist

- [ ] **A Cronofy developer account and an OAuth application** (app.cronofy.com → Developer
  dashboard → Create new app). Note its **data center**: the dashboard's host says it
  (`app-uk.cronofy.com` → `uk`; `app.cronofy.com` → `us`).
- [ ] **An application token, not a personal token.** A personal access token (Developer
  dashboard → "Personal tokens") can read and write calendars but **cannot create channels**:
  step 2 answers 403. Authorize the application (below) to get an access and refresh token.
- [ ] **The `create_calendar` scope** in the authorization (step 1 needs it), plus
  `read_account list_calendars read_events`.
- [ ] **A plan that includes Available Periods** (managed availability): without it, writes
  answer 402 Payment Required. The development tier allows them.
- [ ] **A public HTTPS URL** for the callback: `ngrok http 8080` in a terminal.
- [ ] In a `.env` file next to this notebook, or the environment: `CRONOFY_CLIENT_ID`,
  `CRONOFY_CLIENT_SECRET`, `CRONOFY_DATA_CENTER`, and after authorizing
  `CRONOFY_ACCESS_TOKEN`, `CRONOFY_REFRESH_TOKEN`.

Secrets are never printed here: what is shown is masked.
"""
        ),
        Code(
            """
# Parameters: leave as they are for real Cronofy. The tests set CRONOFY_API_BASE_URL to the
# emulator and PUBLIC_URL to the local receiver (the same code path, another base URL).
import os

PUBLIC_URL = os.environ.get("CRONOFY_AVAIL_PUBLIC_URL")   # None: ask the local ngrok agent
RECEIVER_PORT = int(os.environ.get("CRONOFY_AVAIL_PORT", "8080"))
USER_ID = "me"
""",
            tags=("parameters",),
        ),
        Code(
            """
import asyncio
from datetime import UTC, datetime, timedelta
from contextlib import AsyncExitStack
from pathlib import Path

from cronofy_avail import MemoryStore, create_sub_calendar, onboard_user, query_availability
from cronofy_avail.app.explain import explain
from cronofy_avail.app.ngrok import discover_public_url
from cronofy_avail.app.settings import Settings
from cronofy_avail.app.system import open_system

settings = Settings.load(env_file=Path(".env"))
settings.require_app()
print("API:", settings.api_url)
print({k: v for k, v in settings.masked().items() if k != "CRONOFY_AVAIL_DB"})
"""
        ),
        Md(
            """
## Authorize (once)

Skip this when `CRONOFY_ACCESS_TOKEN` and `CRONOFY_REFRESH_TOKEN` are set. Otherwise open the
printed URL, approve, and paste the `code` from the page you land on (the redirect URI must be
registered in your application; `http://localhost:8000/callback` is a common choice).
"""
        ),
        Code(
            """
REDIRECT_URI = "http://localhost:8000/callback"
store = MemoryStore()
# What every command builds from the settings (retries, sync overlap, data center...):
running = AsyncExitStack()
system = await running.enter_async_context(open_system(settings, store=store))
client = system.client(access_token=settings.access_token, refresh_token=settings.refresh_token)
if settings.access_token is None:
    print("Open:", client.authorization_url(REDIRECT_URI, state="cronofy-avail"))
else:
    print("tokens configured; no authorization needed")
"""
        ),
        Code(
            """
# needs a person: paste the code from the redirect, then run this cell
CODE = ""
if CODE:
    tokens = await client.exchange_code(CODE, REDIRECT_URI)
    print("authorized; scopes:", tokens.scope)
    print("save CRONOFY_ACCESS_TOKEN / CRONOFY_REFRESH_TOKEN from client.tokens into .env")
""",
            tags=("real-network",),
        ),
        Md(
            """
## Step 1 — the sub calendar

A 401 here most often means the wrong data center; a 403 the missing `create_calendar`
scope. The explainer turns any error into its cause and the fix.
"""
        ),
        Code(
            """
try:
    calendar, created = await create_sub_calendar(client)
except Exception as exc:   # show the cause and the fix instead of a traceback
    print(explain(exc, settings).message)
    raise
print(calendar.calendar_name, "in", calendar.profile_name,
      "(created)" if created else "(reused)")
"""
        ),
        Md(
            """
## Step 2 — the receiver, the public URL, the channel

The receiver listens on port 8080 in this kernel; ngrok forwards the public URL to it. The
channel's callback is `{public URL}/cronofy/notifications/{key}`.
"""
        ),
        Code(
            """
coordinator = await system.coordinator()
receiver = await system.receiver(coordinator, host="127.0.0.1", port=RECEIVER_PORT)
local_url = receiver.url
print("receiver listening at", local_url)
"""
        ),
        Code(
            """
# needs the internet: the local ngrok agent's public URL (skip when PUBLIC_URL is set)
if PUBLIC_URL is None:
    tunnel = await discover_public_url(port=RECEIVER_PORT)
    if tunnel is None:
        raise RuntimeError(f"no ngrok tunnel to port {RECEIVER_PORT}: run `ngrok http "
                           f"{RECEIVER_PORT}` in a terminal, then run this cell again")
    PUBLIC_URL = tunnel + "/cronofy"
""",
            tags=("real-network",),
        ),
        Code(
            """
user, channel = await onboard_user(
    store, client, user_id=USER_ID, public_base_url=PUBLIC_URL, tzid=settings.tzid,
)
coordinator.request(USER_ID, full=True)
print("channel", channel.channel_id, "→", channel.callback_url.replace(user.callback_key, "<key>"))


async def wait_for(kind, timeout=120):
    \"\"\"Wait until a delivery of ``kind`` has arrived and its sync (if any) finished.\"\"\"
    async with asyncio.timeout(timeout):
        while not any(d.notification_type == kind for d in await store.list_deliveries()):
            await asyncio.sleep(0.2)
        await coordinator.wait_idle()


await wait_for("verification")
print("verification notification received and verified")
"""
        ),
        Md(
            """
## Step 3 — change your Availability calendar

Open your calendar app (Google, Outlook, …), add an event to the **Availability** calendar in
the next few days, and run the next cell. Cronofy notifies within a minute or so.
"""
        ),
        Code(
            """
await wait_for("change", timeout=300)
for d in (await store.list_deliveries())[:5]:
    print(d.received_at.strftime("%H:%M:%S"), d.notification_type, d.outcome)
periods = await client.list_available_periods()
print(len(periods), "Available Period(s):")
for p in periods:
    print(" ", p.available_period_id, p.start, "→", p.end)
""",
            tags=("waits-for-user",),
        ),
        Md("## Step 4 — availability with managed availability"),
        Code(
            """
now = datetime.now(UTC)
account = await client.account()
answer = await query_availability(
    client, sub=account.account_id, sub_calendar_id=calendar.calendar_id,
    start=now + timedelta(minutes=5), end=now + timedelta(days=7), minutes=30,
)
print(len(answer.results), "slots of 30 minutes in the next 7 days")
for slot in answer.results[:10]:
    print(" ", slot.start, "→", slot.end)
"""
        ),
        Md(
            """
## Teardown

Close the channel and delete the periods this notebook created (only those: periods made by
anything else are left alone), then stop the receiver. The Availability calendar stays (delete
it in your calendar app if you like).
"""
        ),
        Code(
            """
await client.close_channel(channel.channel_id)
owned = await store.get_periods(USER_ID)
for known in owned.values():
    await client.delete_available_period(known.period_id)
print("closed", channel.channel_id, "and deleted", len(owned), "period(s)")
await running.aclose()   # the receiver, the coordinator, the session
""",
            tags=("teardown",),
        ),
    ],
)

# =========================================================================== 04

_EXERCISE_CELLS: list[Cell] = [
    Md(
        """
# 04 · Exercises

Four small problems, each with a check that says what is still wrong. Everything runs in this
kernel against the emulator: `lab` holds the playground (emulator, receiver, coordinator and
one onboarded user), and helpers that speak in the user's local time. Fill in the cells marked
*your code*, then run the check below each.
"""
    ),
    Code(
        """
from datetime import time, timedelta

from cronofy_avail.core.mapping import MappingPolicy
from cronofy_avail.notebook.exercises import (
    Lab, check_all_day, check_recovered, check_slot_mystery, check_thursday_afternoon,
    prepare_all_day, prepare_receiver_outage, prepare_slot_mystery,
)

lab = await Lab.start(tzid="Europe/London")
THURSDAY = lab.next_weekday(3)
print("user time zone:", lab.playground.tzid, "· next Thursday:", THURSDAY)
"""
    ),
    Md(
        """
## 1 · Make Thursday afternoon available

Act as the user: put availability on next Thursday from 13:00 to 17:00 (local), then let the
notification and the sync happen. Useful: `lab.add_availability(start, end)`,
`lab.at(day, time(13))`, `await lab.settle()`.
"""
    ),
    Exercise(
        task="""
# your code
pass
""",
        solution="""
lab.add_availability(lab.at(THURSDAY, time(13)), lab.at(THURSDAY, time(17)), "Thursday pm")
await lab.settle()
""",
    ),
    Code("check1 = await check_thursday_afternoon(lab)\ncheck1", tags=("check",)),
    Md(
        """
## 2 · Why did this slot disappear?

Next Friday 09:00-12:00 is in the Availability calendar, and its period is there. Yet the
10:00 slot is missing from managed availability. Find the event responsible and set
`blocking_event_uid` to its `event_uid`. Useful: `await lab.client.read_events(tzid=…,
from_=…, to=…)` reads every calendar's events.
"""
    ),
    Code(
        """
mystery = await prepare_slot_mystery(lab)
print([f"{s:%H:%M}-{e:%H:%M}" for s, e in await lab.slots(mystery.day)])
"""
    ),
    Exercise(
        task="""
# your code
blocking_event_uid = None
""",
        solution="""
events = await lab.client.read_events(
    tzid=lab.playground.tzid, from_=mystery.day, to=mystery.day + timedelta(days=1)
)
blocking_event_uid = next(
    e.event_uid for e in events
    if e.calendar_id != lab.calendar_id and e.start <= mystery.missing_at < e.end
)
""",
    ),
    Code("check2 = check_slot_mystery(mystery, blocking_event_uid)\ncheck2", tags=("check",)),
    Md(
        """
## 3 · Make an all-day event count

The lab's sync policy has been set to skip all-day events, and next Saturday is an all-day
event in the Availability calendar: the dry run below shows it skipped (`all_day_skipped`).
Make it a whole local day of availability.
"""
    ),
    Code(
        """
all_day_uid = await prepare_all_day(lab)
dry = await lab.coordinator.sync_now(lab.playground.user_id, full=True, dry_run=True)
print(dry.plan.explain(lab.zone))
"""
    ),
    Exercise(
        task="""
# your code
pass
""",
        solution="""
lab.engine.policy_for = lambda user: MappingPolicy(tzid=user.tzid, include_all_day=True)
result = await lab.reconcile()
print(result.kind, "reconcile:", result.upserts, "upsert(s)")
""",
    ),
    Code("check3 = await check_all_day(lab, all_day_uid)\ncheck3", tags=("check",)),
    Md(
        """
## 4 · Recover after the receiver was down

The receiver goes down (a laptop asleep), the user adds two slots, the deliveries fail until
Cronofy gives up and closes the channel (after a day; here, after a moment), and the receiver
comes back. Cronofy never resends: make the periods right again.
"""
    ),
    Code(
        """
lost = await prepare_receiver_outage(lab)
print("added while down:", lost, "· channel active:", lab.channel_active())
"""
    ),
    Exercise(
        task="""
# your code
pass
""",
        solution="""
await lab.playground.onboard()  # step 2 again: a new channel, then a full reconcile
print("channel active:", lab.channel_active())
""",
    ),
    Code("check4 = await check_recovered(lab)\ncheck4", tags=("check",)),
    Md("## Summary"),
    Code(
        """
import json

print("CHECKS", json.dumps({c.title: c.ok for c in (check1, check2, check3, check4)}))
await lab.close()
""",
        tags=("teardown",),
    ),
]

NB04 = Spec("04_exercises", _EXERCISE_CELLS, solutions=False)
NB04S = Spec("04_solutions", _EXERCISE_CELLS, solutions=True)

NOTEBOOKS = [NB01, NB02, NB03, NB04, NB04S]


def expected() -> dict[str, str]:
    """Notebook file name → the exact text this script writes."""
    return {f"{spec.name}.ipynb": render(build(spec)) for spec in NOTEBOOKS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a diff")
    args = parser.parse_args(argv)
    stale = []
    for name, text in expected().items():
        path = HERE / name
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    verb = "differ from notebooks/build.py" if args.check else "written"
    for name in stale:
        print(f"{name}: {verb}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
