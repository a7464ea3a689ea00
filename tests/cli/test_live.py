"""The one-line reports of a running receiver (pure formatting: table-driven)."""

from __future__ import annotations

from datetime import UTC, datetime

from cronofy_avail.cli.live import delivery_line, plural, sync_line
from cronofy_avail.core.planner import Action, ActionKind, Plan
from cronofy_avail.runtime.sync import SyncResult
from tests.support.deliveries import accepted_change

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def result(*actions: Action, upserts: int = 0, deletes: int = 0, calls: int = 1) -> SyncResult:
    return SyncResult(
        kind="incremental",
        ok=True,
        started_at=T0,
        finished_at=T0,
        upserts=upserts,
        deletes=deletes,
        api_calls=calls,
        plan=Plan(actions=actions, previous={}, target={}),
    )


def test_plural() -> None:
    assert [plural(n, "upsert") for n in (0, 1, 2)] == ["0 upserts", "1 upsert", "2 upserts"]


def test_an_upsert_shows_the_summary_next_to_the_period_in_the_users_zone() -> None:
    upsert = Action(ActionKind.UPSERT, "timed", "uid-1", "evt_1", T0, T1)
    line = sync_line(
        "ada",
        result(upsert, upserts=1),
        tzid="America/New_York",
        summary_of={"uid-1": "Office hours"}.get,
    )
    assert line == (
        "sync ada: incremental ok: upserted 'Office hours' as period evt_1 2026-12-02 04:00 "
        "to 07:00 (1 upsert, 0 deletes, 1 API call; state idle)"
    )


def test_deletes_skips_and_long_plans() -> None:
    delete = Action(ActionKind.DELETE, "deleted", "uid-2", "evt_2")
    skip = Action(ActionKind.SKIP, "ended", "uid-3")
    many = [Action(ActionKind.UPSERT, "timed", f"u{i}", f"p{i}", T0, T1) for i in range(5)]
    assert (
        "deleted period evt_2; skipped uid-3 (it has ended: no period in the past) (0 upserts, "
        "1 delete"
    ) in sync_line("a", result(delete, skip, deletes=1))
    # A skip worth knowing is said with its reason (an event that ended makes no period) ...
    assert ": skipped uid-3 (it has ended: no period in the past) (" in sync_line("a", result(skip))
    # ... an unchanged one is not news.
    unchanged = Action(ActionKind.SKIP, "unchanged", "uid-4", "evt_4")
    assert ": no change (" in sync_line("a", result(unchanged))
    assert "; and 2 more (" in sync_line("a", result(*many, upserts=5))


def test_delivery_line() -> None:
    delivery = accepted_change(T0, user_id="ada")
    assert delivery_line(delivery, 7) == "delivery 7: change for ada, signature ok, accepted"
