"""A claim keeps a period written at Cronofy owned: the planners' side of it (pure). A period
whose write may have landed is claimed before the write, and the claim is released only once
the outcome is known (tests/sync/test_every_period_keeps_an_owner.py runs it end to end)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from cronofy_avail.core.mapping import MappingPolicy, period_id_for
from cronofy_avail.core.models import AvailablePeriod, Event
from cronofy_avail.core.planner import (
    ActionKind,
    KnownPeriod,
    OwnershipChanges,
    PlanReason,
    plan_changes,
    plan_reconcile,
)

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def event(uid: str, *, deleted: bool = False, hour: int = 9) -> Event:
    return Event.model_validate(
        {
            "calendar_id": "cal_sub",
            "event_uid": uid,
            "summary": "x",
            "start": iso(NOW.replace(hour=hour) + timedelta(days=1)),
            "end": iso(NOW.replace(hour=hour + 1) + timedelta(days=1)),
            "deleted": deleted,
        }
    )


def known_for(e: Event) -> dict[str, KnownPeriod]:
    d = MappingPolicy().decide(e, NOW)
    assert d.period is not None
    return {e.event_uid: KnownPeriod(e.event_uid, d.period.period_id, d.period.start, d.period.end)}


def kinds(actions: tuple[object, ...]) -> list[tuple[str, str | None]]:
    return [(a.kind, a.period_id) for a in actions]  # type: ignore[attr-defined]


def test_a_claimed_period_of_a_deleted_event_is_deleted() -> None:
    plan = plan_changes([event("a", deleted=True)], {}, MappingPolicy(), NOW, claimed={"a": "a"})
    assert kinds(plan.writes) == [(ActionKind.DELETE, "a")]
    changes = plan.changes_after(plan.writes)
    assert changes.release == frozenset({"a"})


def test_a_claim_is_never_unchanged() -> None:
    e = event("a")
    claimed: Mapping[str, str | None] = {"a": "a"}
    assert kinds(plan_changes([e], known_for(e), MappingPolicy(), NOW).writes) == []
    plan = plan_changes([e], known_for(e), MappingPolicy(), NOW, claimed=claimed)
    assert kinds(plan.writes) == [(ActionKind.UPSERT, "a")]


def test_reconcile_deletes_a_claimed_period_no_event_wants_and_skips_foreign_ones() -> None:
    remote = [
        AvailablePeriod.model_validate(
            {"available_period_id": pid, "start": iso(NOW), "end": iso(NOW + timedelta(hours=1))}
        )
        for pid in ("claimed", "foreign")
    ]
    plan = plan_reconcile(
        [], {}, remote, MappingPolicy(), NOW, claimed={"claimed": "x", "gone": None}
    )
    assert kinds(plan.writes) == [(ActionKind.DELETE, "claimed")]
    assert [a.reason for a in plan.skips] == [PlanReason.NOT_OWNED]
    assert plan.released == frozenset({"gone"})
    failed = plan.changes_after((), plan.writes)
    assert "claimed" not in failed.release  # outcome unknown: still claimed


def test_changes_after_a_failed_write_keep_the_claim_and_the_old_record() -> None:
    e = event("a", hour=11)
    old = known_for(event("a"))
    plan = plan_changes([e], old, MappingPolicy(), NOW)
    changes = plan.changes_after((), plan.writes)
    assert changes == OwnershipChanges()
    assert period_id_for("a") == "a"
