# %% [markdown]
# # 04 · Exercises
#
# Four small problems, each with a check that says what is still wrong. Everything runs in this
# kernel against the emulator: `lab` holds the playground (emulator, receiver, coordinator and
# one onboarded user), and helpers that speak in the user's local time. Fill in the cells marked
# *your code*, then run the check below each.
#
# In a workshop, each check also shows its verdict on the instructor's page (1 ✔ 2 ✘ …): once
# notebook 01 joined the workshop, this kernel finds the seat it kept
# (`~/.cronofy_avail/workshop.json`) and reports by itself. Outside a workshop nothing is sent.

# %%
from datetime import datetime, time, timedelta

from cronofy_avail.core.mapping import MappingPolicy
from cronofy_avail.notebook.exercises import (
    Lab,
    check_all_day,
    check_recovered,
    check_slot_mystery,
    check_thursday_afternoon,
    prepare_all_day,
    prepare_receiver_outage,
    prepare_slot_mystery,
)

lab = await Lab.start(tzid="Europe/London")
THURSDAY = lab.next_weekday(3)
print("user time zone:", lab.playground.tzid, "· next Thursday:", THURSDAY)

# %% [markdown]
# ## 1 · Make Thursday afternoon available
#
# Act as the user: put availability on next Thursday from 13:00 to 17:00 (local), then let the
# notification and the sync happen. Useful: `await lab.add_availability(start, end)`,
# `lab.at(day, time(13))`, `await lab.settle()`.

# %% tags=["exercise"]
# your code
pass

# %% tags=["solution"]
await lab.add_availability(lab.at(THURSDAY, time(13)), lab.at(THURSDAY, time(17)), "Thursday pm")
await lab.settle()

# %% tags=["check"]
check1 = await check_thursday_afternoon(lab)
check1

# %% [markdown]
# ## 2 · Why did this slot disappear?
#
# Next Friday 09:00-12:00 is in the Availability calendar, and its period is there. Yet the
# 10:00 slot is missing from managed availability. Find the event responsible and set
# `blocking_event_uid` to its `event_uid`. Useful: `await lab.client.read_events(tzid=…,
# from_=…, to=…)` reads every calendar's events.

# %%
mystery = await prepare_slot_mystery(lab)
print([f"{s:%H:%M}-{e:%H:%M}" for s, e in await lab.slots(mystery.day)])

# %% tags=["exercise"]
# your code
blocking_event_uid = None

# %% tags=["solution"]
events = await lab.client.read_events(
    tzid=lab.playground.tzid, from_=mystery.day, to=mystery.day + timedelta(days=1)
)
blocking_event_uid = next(
    e.event_uid
    for e in events
    if e.calendar_id != lab.calendar_id
    and isinstance(e.start, datetime)  # a timed event (an all-day one starts on a date)
    and isinstance(e.end, datetime)
    and e.start <= mystery.missing_at < e.end
)

# %% tags=["check"]
check2 = await check_slot_mystery(mystery, blocking_event_uid)
check2

# %% [markdown]
# ## 3 · Make an all-day event count
#
# The lab's sync policy has been set to skip all-day events, and next Saturday is an all-day
# event in the Availability calendar: the dry run below shows it skipped (`all_day_skipped`).
# Make it a whole local day of availability.

# %%
all_day_uid = await prepare_all_day(lab)
dry = await lab.coordinator.sync_now(lab.playground.user_id, full=True, dry_run=True)
assert dry.plan is not None  # a dry run returns what it would do
print(dry.plan.explain(lab.zone))

# %% tags=["exercise"]
# your code
pass

# %% tags=["solution"]
lab.engine.policy_for = lambda user: MappingPolicy(tzid=user.tzid, include_all_day=True)
result = await lab.reconcile()
print(result.kind, "reconcile:", result.upserts, "upsert(s)")

# %% tags=["check"]
check3 = await check_all_day(lab, all_day_uid)
check3

# %% [markdown]
# ## 4 · Recover after the receiver was down
#
# The receiver goes down (a laptop asleep), the user adds two slots, the deliveries fail until
# Cronofy gives up and closes the channel (after a day; here, after a moment), and the receiver
# comes back. Cronofy never resends: make the periods right again.

# %%
lost = await prepare_receiver_outage(lab)
print("added while down:", lost, "· channel active:", lab.channel_active())

# %% tags=["exercise"]
# your code
pass

# %% tags=["solution"]
await lab.playground.onboard()  # step 2 again: a new channel, then a full reconcile
print("channel active:", lab.channel_active())

# %% tags=["check"]
check4 = await check_recovered(lab, lost)
check4

# %% [markdown]
# ## Summary

# %% tags=["teardown"]
import json

print("CHECKS", json.dumps({c.title: c.ok for c in (check1, check2, check3, check4)}))
await lab.close()
