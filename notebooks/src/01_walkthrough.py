# %% [markdown]
# # 01 · The four steps, with the wizard
#
# A user keeps an **Availability** calendar; every event in it becomes a Cronofy *Available
# Period*, and availability queries with managed availability only offer those times. The wizard
# below walks through the four steps against an emulator of Cronofy that runs inside this kernel,
# together with the webhook receiver — nothing to configure, no account, no network.
#
# - **0. Connect**: to the emulator in this kernel (or a workshop's, see below);
# - **1. Sub calendar**: create the Availability calendar in the user's profile;
# - **2. Channel**: a push channel filtered to it, with the receiver as callback;
# - **3. Sync**: on each notification, read the changed events and upsert/delete periods;
# - **4. Availability**: query availability with managed availability.
#
# Run the next cell: step 0 (Connect) is done for you. Then press each step's button and
# **Next**, or run the cell after it to do all four.
#
# *In a workshop*, connect to the instructor's emulator instead: in the next cell, replace the
# `Wizard.start()` line with the URL the instructor shows and your name, e.g.
#
# ```python
# wizard = await Wizard.start(mode="shared", emulator_url="http://192.168.1.20:8181", name="Ada")
# ```
#
# You get an account of your own there, the deliveries reach this kernel through the emulator's
# relay (no public URL needed), and the instructor's page shows which step you reached.

# %%
from cronofy_avail import Wizard

wizard = await Wizard.start()
wizard

# %% [markdown]
# To run every step without clicking (what a test or a hurried reader does):

# %%
await wizard.run_all()
print({key: str(step.state) for key, step in wizard.steps.items()})

# %% [markdown]
# Now add availability as the user. In the week view, **drag across empty time** on a day; or
# use step 3's buttons; or run the cell below, which puts two events in the Availability
# calendar. Each time the emulator sends a signed notification, the receiver verifies it, the
# sync engine plans and applies, and the new period appears on the timeline and in step 3's
# table. Step 4 shows the slots with and without managed availability side by side.

# %%
c = wizard.controller
await c.add_timed(c.tomorrow_at(10), c.tomorrow_at(12), summary="Morning")
await c.add_timed(c.tomorrow_at(14), c.tomorrow_at(15), summary="After lunch")
await wizard.settle()  # the notifications, the syncs they start and the redraw are done

for _period_id, start, end, event in c.period_rows():
    print(f"{start} - {end}  {event}")
print(wizard.steps["availability"].summary)

# %% [markdown]
# When you are done, stop the emulator and the receiver this wizard started (re-running the
# first cell starts fresh ones).
#
# Next: `02_under_the_hood.ipynb` does the same with the library, call by call.

# %% tags=["teardown"]
await wizard.shutdown()
