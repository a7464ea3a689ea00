# %% [markdown]
# # 02 · Under the hood: the four steps with the library
#
# The same four steps as notebook 01, without the wizard: the client calls, a signed
# notification built and verified by hand, the planner's dry run, why the sync engine keeps a
# watermark and coalesces notifications, and the busy-calendar trap.
#
# Everything runs in this kernel's event loop against the bundled emulator (a fake Cronofy over
# real HTTP on 127.0.0.1), so top-level `await` just works.

# %%
import asyncio
import json
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import aiohttp

from cronofy_avail import (
    Emulator,
    MemoryStore,
    create_sub_calendar,
    onboard_user,
    query_availability,
    sign,
    verify_notification,
)
from cronofy_avail.app.settings import Settings
from cronofy_avail.app.system import for_app, open_system
from cronofy_avail.core.errors import ServerError
from cronofy_avail.core.mapping import MappingPolicy, period_id_for
from cronofy_avail.core.models import (
    AvailabilityRequest,
    Duration,
    LocalizedTime,
    Member,
    ParticipantGroup,
    QueryPeriod,
    utc_instant,
)
from cronofy_avail.core.planner import plan_reconcile
from cronofy_avail.core.retry import RetryPolicy
from cronofy_avail.core.signatures import SIGNATURE_HEADER, SignatureVerificationError
from cronofy_avail.runtime.steps import SetupError

TZ = "Europe/London"
zone = ZoneInfo(TZ)
day = (datetime.now(zone) + timedelta(days=2)).date()  # a day safely in the future


def at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), zone)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local(value: datetime | LocalizedTime) -> str:
    return utc_instant(value).astimezone(zone).strftime("%a %H:%M")


emu = await Emulator(debounce=0.05, retry_initial_delay=0.05).start()
account = await emu.create_account(tzid=TZ, email="ada@example.com")
session = aiohttp.ClientSession()
client = emu.client(account, session=session)
print("emulator at", emu.base_url)

# %% [markdown]
# ## Step 1 — the sub calendar
#
# `create_sub_calendar` picks the first connected profile and finds or creates the calendar
# named "Availability" (run it twice: the second time it reuses it).

# %%
profiles = await client.list_profiles()
calendar, created = await create_sub_calendar(client)
print("profiles:", [p.profile_name for p in profiles])
print(calendar.calendar_name, "created" if created else "reused")
again, created_again = await create_sub_calendar(client)
assert again.calendar_id == calendar.calendar_id and not created_again

# %% [markdown]
# ## Step 2 — the receiver and the channel
#
# The receiver is the webhook server (`webhook_server`), the same one `cronofy-avail serve` runs.
# `open_system` builds it from the settings the way every command does, with what stands behind
# it: a store (in memory here), the sync engine and the coordinator (with quick retries, so the
# failures shown below heal in a moment). `onboard_user`
# records the user, creates the channel filtered to the sub calendar with a callback URL that
# carries a per-user secret key, and asks for a first full reconcile. Cronofy (here, the
# emulator) answers a new channel with a signed `verification` notification.

# %%
store = MemoryStore()
quick = RetryPolicy(base_delay=0.05)
settings = for_app(  # the emulator's application; every other setting as configured
    Settings(),
    client_id=emu.client_id,
    client_secret=emu.client_secret,
    api_base_url=emu.base_url,
)
running = AsyncExitStack()  # closes the receiver, then the coordinator, at the end
system = await running.enter_async_context(
    open_system(settings, store=store, session=session, retry=quick)
)
coordinator = await system.coordinator(retry_delays=(0.05, 0.1))
receiver = await system.receiver(coordinator)
receiver_url = receiver.url
assert receiver_url is not None  # set once the receiver listens

user, channel = await onboard_user(
    store, client, user_id="ada", public_base_url=receiver_url, tzid=TZ
)
coordinator.request("ada", full=True)


async def settle() -> None:
    """Wait for every delivery and every sync it started (a sync may end after a delivery)."""
    async with asyncio.timeout(30):
        for _ in range(3):
            await emu.wait_notifications()
            await coordinator.wait_idle()


await settle()
print("channel", channel.channel_id, "filtered to", channel.filters)
print("callback", channel.callback_url.replace(user.callback_key, "<key>"))
for delivery in await store.list_deliveries():
    print(
        delivery.notification_type,
        "verified" if delivery.verified else "REJECTED",
        delivery.outcome,
    )

# %% [markdown]
# ### A signed notification, by hand
#
# Cronofy signs the raw body with HMAC-SHA256 under the application's client secret, base64, in
# the `Cronofy-HMAC-SHA256` header (several values, comma-separated, while a secret rotates).
# Verify the raw bytes first, then parse. A changed byte fails; so does a missing header.

# %%
body = json.dumps(
    {
        "notification": {"type": "change", "changes_since": iso(datetime.now(UTC))},
        "channel": {"channel_id": channel.channel_id},
    }
).encode()
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
callback = channel.callback_url
async with session.post(callback, data=body, headers={SIGNATURE_HEADER: "forged"}) as r:
    print("forged POST ->", r.status)
async with session.post(callback, data=body, headers={SIGNATURE_HEADER: signature}) as r:
    print("signed POST ->", r.status)
await settle()

# %% [markdown]
# ## Step 3 — play the user, watch the periods
#
# `emu.add_event` is the user adding an event in their calendar app. The emulator notifies the
# channel, the receiver verifies and acknowledges at once, the coordinator runs a sync: read the
# events changed since `changes_since`, plan, apply.

# %%
morning = emu.add_event(
    calendar.calendar_id, start=iso(at(9)), end=iso(at(12)), summary="Free morning"
)
all_day = emu.add_event(
    calendar.calendar_id,
    start=(day + timedelta(days=1)).isoformat(),
    end=(day + timedelta(days=2)).isoformat(),
    summary="Whole day",
)
await settle()
periods = await client.list_available_periods()
for p in sorted(periods, key=lambda p: utc_instant(p.start)):
    print(p.available_period_id, local(p.start), "→", local(p.end))
assert {p.available_period_id for p in periods} == {
    period_id_for(morning["event_uid"]),
    period_id_for(all_day["event_uid"]),
}

# %% [markdown]
# ### The planner's dry run
#
# The planner is pure: events and what we know in, actions out. That makes a dry run free. First
# the engine's own dry run (a full reconcile, not applied): everything is in sync. Then the pure
# planner asked "what if all-day events were skipped?": it would delete the all-day period, and
# says why. Nothing is written.

# %%
dry = await coordinator.sync_now("ada", full=True, dry_run=True)
assert dry.plan is not None  # a dry run returns what it would do
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

# %% [markdown]
# ### Why a watermark and coalescing: the seed's loop loses a change
#
# The pattern's seed is six lines: on a notification, read events since `changes_since`, upsert
# a period per event, delete the deleted ones. Run two of them at once (two notifications close
# together, as happens whenever a user moves an event twice) and the older read can be written
# last. Below, a second account runs the seed's loop; we force the interleaving that load
# produces by chance: notification A reads, the user moves the event, notification B reads and
# writes, then A writes its stale view.

# %%
seed_account = await emu.create_account(tzid=TZ, email="seed@example.com")
seed_client = emu.client(seed_account, session=session, retry=quick)
seed_calendar, _ = await create_sub_calendar(seed_client)


async def seed_loop(
    changes_since: datetime, pause: Callable[[], Awaitable[None]] | None = None
) -> None:
    events = await seed_client.read_changed_events(
        tzid=TZ, calendar_id=seed_calendar.calendar_id, changes_since=changes_since
    )
    if pause:  # where the event loop switches to another notification
        await pause()
    for e in events:
        if e.deleted:
            await seed_client.delete_available_period(period_id_for(e.event_uid))
        elif isinstance(e.start, datetime) and isinstance(e.end, datetime):  # timed events
            await seed_client.upsert_available_period(period_id_for(e.event_uid), e.start, e.end)


since = datetime.now(UTC) - timedelta(seconds=1)
slot = emu.add_event(seed_calendar.calendar_id, start=iso(at(9)), end=iso(at(10)))
a_has_read, let_a_write = asyncio.Event(), asyncio.Event()


async def pause_a() -> None:
    a_has_read.set()
    await let_a_write.wait()


notification_a = asyncio.create_task(seed_loop(since, pause_a))
await a_has_read.wait()
emu.update_event(slot["event_uid"], start=iso(at(14)), end=iso(at(15)))  # the user moves it
await seed_loop(since)  # notification B
let_a_write.set()
await notification_a

seed_period = (await seed_client.list_available_periods())[0]
print("event  :", local(at(14)), "→", local(at(15)))
print("period :", local(seed_period.start), "→", local(seed_period.end))
seed_lost_change = seed_period.start != at(14)
print("the seed loop lost the move" if seed_lost_change else "no loss this time")

# %% [markdown]
# ### …and the engine does not
#
# The coordinator runs one sync per user at a time; notifications arriving during a sync fold
# into **one** follow-up, and the watermark (where the next incremental read starts) moves only
# after every write of a sync landed. Same story against the real receiver: the user adds an
# event, and moves it twice while the first sync is still reading (a 300 ms latency on
# `GET /v1/events` keeps it reading long enough).

# %%
fault = emu.add_fault(endpoint="GET /v1/events", latency_ms=300)
requests_before = coordinator.stats.requests["ada"]
syncs_before = coordinator.stats.syncs["ada"]
moving = emu.add_event(calendar.calendar_id, start=iso(at(15)), end=iso(at(16)))
async with asyncio.timeout(10):
    while not coordinator.is_syncing("ada"):  # wait for the first sync to start
        await asyncio.sleep(0.01)
emu.update_event(moving["event_uid"], start=iso(at(16)), end=iso(at(17)))
emu.update_event(moving["event_uid"], start=iso(at(17)), end=iso(at(18)))
await settle()
emu.faults.remove(fault.fault_id)

engine_period = next(
    p
    for p in await client.list_available_periods()
    if p.available_period_id == period_id_for(moving["event_uid"])
)
print("event  :", local(at(17)), "→", local(at(18)))
print("period :", local(engine_period.start), "→", local(engine_period.end))
print(
    "sync requests:",
    coordinator.stats.requests["ada"] - requests_before,
    "syncs run:",
    coordinator.stats.syncs["ada"] - syncs_before,
)
engine_kept_change = engine_period.start == at(17)
print("the engine kept the move" if engine_kept_change else "LOST")

# %% [markdown]
# ### A write that fails: the seed forgets, the watermark remembers
#
# Cronofy sends one notification per change and never resends it after your 2xx. If the seed
# loop's write fails (a 503 outlasting the client's retries), the change is gone for good. The
# engine records the notification's intent first, and moves its watermark (where the next
# incremental read starts) only after every write of a sync landed: a failed sync is retried
# from the same place.

# %%
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


async def watermark() -> str:
    """Where ada's next incremental read starts."""
    user = await store.get_user("ada")
    assert user is not None and user.watermark is not None
    return user.watermark.strftime("%H:%M:%S.%f")


before = await watermark()
fault = emu.add_fault(endpoint="POST /v1/batch", error_count=5, error_status=503)
lunch_ada = emu.add_event(calendar.calendar_id, start=iso(at(12)), end=iso(at(13)))
await settle()
emu.faults.remove(fault.fault_id)
after = await watermark()
ada_ids = {p.available_period_id for p in await client.list_available_periods()}
engine_kept_write = period_id_for(lunch_ada["event_uid"]) in ada_ids
print(
    "engine: failed batch calls",
    fault.hits,
    "· coordinator retries",
    coordinator.stats.retries["ada"],
)
print("engine: watermark", before, "→", after, "· lunch has a period?", engine_kept_write)


# %% [markdown]
# ## Step 4 — availability, and the busy-calendar trap
#
# With managed availability, a member is available only inside their Available Periods. But the
# sub calendar's own events are ordinary opaque events: if the query consults the sub calendar,
# each event is busy time that cancels the very period it created. Leave the sub calendar out of
# the consulted calendars (`query_availability` does, and refuses the trap).


# %%
def ask(calendar_ids: list[str]) -> AvailabilityRequest:
    return AvailabilityRequest(
        participants=[
            ParticipantGroup(
                members=[
                    Member(sub=account.sub, calendar_ids=calendar_ids, managed_availability=True)
                ],
                required="all",
            )
        ],
        required_duration=Duration(minutes=60),
        query_periods=[QueryPeriod(start=at(0), end=at(0) + timedelta(days=1))],
        response_format="slots",
    )


trap = await client.availability(ask([account.calendar_id, calendar.calendar_id]))
print("consulting the sub calendar:", len(trap.results), "slots   ← the trap")
answer = await query_availability(
    client,
    sub=account.sub,
    sub_calendar_id=calendar.calendar_id,
    start=at(0),
    end=at(0) + timedelta(days=1),
    minutes=60,
)
print(
    "leaving it out:            ",
    len(answer.results),
    "slots:",
    [local(s.start) for s in answer.results],
)
try:
    await query_availability(
        client,
        sub=account.sub,
        sub_calendar_id=calendar.calendar_id,
        start=at(0),
        end=at(0) + timedelta(days=1),
        calendar_ids=[calendar.calendar_id],
    )
except SetupError as exc:
    print("query_availability refuses the trap:", exc)

# %% [markdown]
# ## Teardown

# %% tags=["teardown"]
await running.aclose()
await session.close()
await emu.stop()
