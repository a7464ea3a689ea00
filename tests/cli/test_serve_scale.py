"""``serve`` with many users: start-up prints a bounded number of lines, and a healthy user's
delivery prints its line without reading the user again."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from pathlib import Path

from cronofy_avail.app.settings import Settings
from cronofy_avail.cli.common import MaskingWriter
from cronofy_avail.cli.live import NotSyncing, announce_deliveries
from cronofy_avail.cli.serve import CHANNELS_SHOWN, serve
from cronofy_avail.runtime.steps import callback_url_for
from cronofy_avail.runtime.store import (
    Delivery,
    MemoryStore,
    SQLiteStore,
    StoredCredentials,
    UserRecord,
    UserState,
)
from cronofy_avail.runtime.sync import SyncResult
from tests.support.commands import closed_port
from tests.support.deliveries import accepted_change

USERS = 2_000
CLIENT_SECRET = "CRN_scale_test_secret_0123456789"


async def seed(db: Path, count: int, public: str) -> list[str]:
    """``count`` set-up users with credentials (three secrets each), through the store's API
    (saved concurrently, a few hundred at a time); returns their callback URLs."""
    now = datetime.now(UTC)
    store = await SQLiteStore.open(db)
    users = []
    for i in range(count):
        user = UserRecord(
            user_id=f"u{i:05d}",
            credentials=StoredCredentials(f"acc_{i:05d}_{'a' * 20}", f"ref_{i:05d}_{'r' * 20}"),
            calendar_id=f"cal_{i}",
            channel_id=f"chn_{i}",
            state=UserState.IDLE,
            watermark=now,
            last_reconcile_at=now,
        )
        user.callback_url = callback_url_for(f"{public}/cronofy", user.callback_key)
        users.append(user)
    try:
        for start in range(0, count, 500):
            await asyncio.gather(*(store.save_user(u) for u in users[start : start + 500]))
    finally:
        await store.close()
    return [u.callback_url or "" for u in users]


async def test_serve_with_many_users_prints_a_few_lines_at_start(tmp_path: Path) -> None:
    port = closed_port()
    public = f"http://127.0.0.1:{port}"
    db = tmp_path / "state.db"
    urls = await seed(db, USERS, public)
    settings = Settings(
        client_id="scale-test-client",
        client_secret=CLIENT_SECRET,
        api_base_url=f"http://127.0.0.1:{closed_port()}",
        db_path=db,
    )
    out = io.StringIO()
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        serve(
            settings,
            out,
            port=port,
            public_url=public,
            ready=ready,
            stop=stop,
            schedule_every=None,
            channel_check_pace=3600.0,
        )
    )
    try:
        async with asyncio.timeout(60):
            waiter = asyncio.create_task(ready.wait())
            await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
            assert ready.is_set(), out.getvalue()
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 60) == 0
    text = out.getvalue()
    start = text.split("Serving; Ctrl-C stops.")[0].splitlines()
    # O(1): the listening lines, a few channels, one line counting the rest.
    assert len(start) <= CHANNELS_SHOWN + 6, start
    assert sum("(this server; Cronofy is asked" in line for line in start) == CHANNELS_SHOWN
    assert f"... and {USERS - CHANNELS_SHOWN:,} more users' channels calling back this server" in (
        text
    )
    for url in urls[:CHANNELS_SHOWN]:  # the callback keys shown are masked
        assert url not in text


def change(user_id: str) -> Delivery:
    return accepted_change(datetime.now(UTC), user_id=user_id)


async def test_a_healthy_users_delivery_reads_nothing_a_broken_ones_is_explained() -> None:
    store = MemoryStore()
    ok = UserRecord(user_id="ok", state=UserState.IDLE)
    broken = UserRecord(user_id="broken", state=UserState.NEEDS_REAUTH, last_error="revoked")
    for user in (ok, broken):
        await store.save_user(user)
    reads: list[str] = []
    get_user = store.get_user

    async def counted(user_id: str) -> UserRecord | None:
        reads.append(user_id)
        return await get_user(user_id)

    store.get_user = counted  # type: ignore[method-assign]
    buffer = io.StringIO()
    not_syncing = NotSyncing([ok, broken])
    announce = announce_deliveries(store, MaskingWriter(buffer), not_syncing=not_syncing)
    for i in range(100):
        await announce(change("ok"), i)
    assert reads == []  # 100 acks, no read of the user
    await announce(change("broken"), 100)
    assert reads == ["broken"]
    assert "note: user broken needs authorizing again (revoked)" in buffer.getvalue()
    # Fixed and synced here: its deliveries no longer read it either.
    now = datetime.now(UTC)
    synced = SyncResult(kind="full", ok=True, started_at=now, finished_at=now)
    not_syncing.synced("broken", synced)
    await announce(change("broken"), 101)
    assert reads == ["broken"]
    # A delivery of another type may change the state: the next change reads it again.
    disconnected = change("ok")
    disconnected.notification_type = "profile_disconnected"
    await announce(disconnected, 102)
    await announce(change("ok"), 103)
    assert reads == ["broken", "ok", "ok"]
