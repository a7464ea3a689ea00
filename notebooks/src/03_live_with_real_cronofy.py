# %% [markdown]
# # 03 · Live, with real Cronofy
#
# The four steps against the real service, with a real public callback (ngrok). The same code
# runs against the emulator: set `CRONOFY_API_BASE_URL` to an emulator's URL and every cell
# except those marked **needs a person or the internet** runs offline (the tests do exactly
# that).
#
# ## Prerequisites checklist
#
# - [ ] **A Cronofy developer account and an OAuth application** (app.cronofy.com → Developer
#   dashboard → Create new app). Note its **data center**: the dashboard's host says it
#   (`app-uk.cronofy.com` → `uk`; `app.cronofy.com` → `us`).
# - [ ] **An application token, not a personal token.** A personal access token (Developer
#   dashboard → "Personal tokens") can read and write calendars but **cannot create channels**:
#   step 2 answers 403. Authorize the application (below) to get an access and refresh token.
# - [ ] **The `create_calendar` scope** in the authorization (step 1 needs it), plus
#   `read_account list_calendars read_events`.
# - [ ] **A plan that includes Available Periods** (managed availability): without it, writes
#   answer 402 Payment Required. The development tier allows them.
# - [ ] **A public HTTPS URL** for the callback: `ngrok http 8080` in a terminal.
# - [ ] In the project's `.env` (or one next to this notebook), or the environment:
#   `CRONOFY_CLIENT_ID`, `CRONOFY_CLIENT_SECRET`, `CRONOFY_DATA_CENTER`, and after authorizing
#   `CRONOFY_ACCESS_TOKEN`, `CRONOFY_REFRESH_TOKEN`.
#
# Secrets are never printed here: what is shown is masked.

# %% tags=["parameters"]
# Parameters: leave as they are for real Cronofy. The tests set CRONOFY_API_BASE_URL to the
# emulator and PUBLIC_URL to the local receiver (the same code path, another base URL).
import os

PUBLIC_URL = os.environ.get("CRONOFY_AVAIL_PUBLIC_URL")  # None: ask the local ngrok agent
RECEIVER_PORT = int(os.environ.get("CRONOFY_AVAIL_PORT", "8080"))
USER_ID = "me"

# %%
import asyncio
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

from cronofy_avail import MemoryStore, create_sub_calendar, onboard_user, query_availability
from cronofy_avail.app.explain import explain
from cronofy_avail.app.ngrok import discover_public_url
from cronofy_avail.app.system import open_system
from cronofy_avail.notebook import load_settings

settings = load_settings(require_app=True)  # .env here or above, up to the project root
print("configuration:", settings.env_note())
print("API:", settings.api_url)
print({k: v for k, v in settings.masked().items() if k != "CRONOFY_AVAIL_DB"})

# %% [markdown]
# ## Authorize (once)
#
# Skip this when `CRONOFY_ACCESS_TOKEN` and `CRONOFY_REFRESH_TOKEN` are set. Otherwise open the
# printed URL, approve, and paste the `code` from the page you land on (register
# `http://127.0.0.1:8765/oauth/callback` in your application: the one `cronofy-avail authorize`
# and the wizard use; copy the `code` from the address bar).

# %%
from cronofy_avail.app.oauth import REDIRECT_URI  # the CLI's and the wizard's

store = MemoryStore()
# What every command builds from the settings (retries, sync overlap, data center...):
running = AsyncExitStack()
system = await running.enter_async_context(open_system(settings, store=store))
client = system.client(access_token=settings.access_token, refresh_token=settings.refresh_token)
if settings.access_token is None:
    print("Open:", client.authorization_url(REDIRECT_URI, state="cronofy-avail"))
else:
    print("tokens configured; no authorization needed")

# %% tags=["real-network"]
# needs a person: paste the code from the redirect, then run this cell
CODE = ""
if CODE:
    tokens = await client.exchange_code(CODE, REDIRECT_URI)
    print("authorized; scopes:", tokens.scope)
    print("save CRONOFY_ACCESS_TOKEN / CRONOFY_REFRESH_TOKEN from client.tokens into .env")

# %% [markdown]
# ## Step 1 — the sub calendar
#
# A 401 here most often means the wrong data center; a 403 the missing `create_calendar`
# scope. The explainer turns any error into its cause and the fix.

# %%
try:
    calendar, created = await create_sub_calendar(client)
except Exception as exc:  # show the cause and the fix instead of a traceback
    print(explain(exc, settings).message)
    raise
print(calendar.calendar_name, "in", calendar.profile_name, "(created)" if created else "(reused)")

# %% [markdown]
# ## Step 2 — the receiver, the public URL, the channel
#
# The receiver listens on port 8080 in this kernel; ngrok forwards the public URL to it. The
# channel's callback is `{public URL}/cronofy/notifications/{key}`.

# %%
coordinator = await system.coordinator()
receiver = await system.receiver(coordinator, host="127.0.0.1", port=RECEIVER_PORT)
local_url = receiver.url
print("receiver listening at", local_url)

# %% tags=["real-network"]
# needs the internet: the local ngrok agent's public URL (skip when PUBLIC_URL is set)
if PUBLIC_URL is None:
    tunnel = await discover_public_url(port=RECEIVER_PORT)
    if tunnel is None:
        raise RuntimeError(
            f"no ngrok tunnel to port {RECEIVER_PORT}: run `ngrok http "
            f"{RECEIVER_PORT}` in a terminal, then run this cell again"
        )
    PUBLIC_URL = tunnel + "/cronofy"

# %%
user, channel = await onboard_user(
    store,
    client,
    user_id=USER_ID,
    public_base_url=PUBLIC_URL,
    tzid=settings.tzid,
)
coordinator.request(USER_ID, full=True)
print("channel", channel.channel_id, "→", channel.callback_url.replace(user.callback_key, "<key>"))


async def wait_for(kind: str, timeout: float = 120) -> None:
    """Wait until a delivery of ``kind`` has arrived and its sync (if any) finished."""
    async with asyncio.timeout(timeout):
        while not any(d.notification_type == kind for d in await store.list_deliveries()):
            await asyncio.sleep(0.2)
        await coordinator.wait_idle()


await wait_for("verification")
print("verification notification received and verified")

# %% [markdown]
# ## Step 3 — change your Availability calendar
#
# Open your calendar app (Google, Outlook, …), add an event to the **Availability** calendar in
# the next few days, and run the next cell. Cronofy notifies within a minute or so.

# %% tags=["waits-for-user"]
await wait_for("change", timeout=300)
for d in (await store.list_deliveries())[:5]:
    print(d.received_at.strftime("%H:%M:%S"), d.notification_type, d.outcome)
periods = await client.list_available_periods()
print(len(periods), "Available Period(s):")
for p in periods:
    print(" ", p.available_period_id, p.start, "→", p.end)

# %% [markdown]
# ## Step 4 — availability with managed availability

# %%
now = datetime.now(UTC)
account = await client.account()
answer = await query_availability(
    client,
    sub=account.account_id,
    sub_calendar_id=calendar.calendar_id,
    start=now + timedelta(minutes=5),
    end=now + timedelta(days=7),
    minutes=30,
)
print(len(answer.results), "slots of 30 minutes in the next 7 days")
for slot in answer.results[:10]:
    print(" ", slot.start, "→", slot.end)

# %% [markdown]
# ## Teardown
#
# Close the channel and delete the periods this notebook created (only those: periods made by
# anything else are left alone), then stop the receiver. The Availability calendar stays (delete
# it in your calendar app if you like).

# %% tags=["teardown"]
await client.close_channel(channel.channel_id)
owned = await store.get_periods(USER_ID)
for known in owned.values():
    await client.delete_available_period(known.period_id)
print("closed", channel.channel_id, "and deleted", len(owned), "period(s)")
await running.aclose()  # the receiver, the coordinator, the session
