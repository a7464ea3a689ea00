"""The sync planners (pure, table-driven, no event loop)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cronofy_avail.core.mapping import MappingPolicy, Reason, period_id_for
from cronofy_avail.core.models import AvailablePeriod, Event
from cronofy_avail.core.planner import (
    ActionKind,
    KnownPeriod,
    PlanReason,
    plan_changes,
    plan_reconcile,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
POLICY = MappingPolicy()
T9 = datetime(2026, 11, 25, 9, tzinfo=UTC)
T10 = datetime(2026, 11, 25, 10, tzinfo=UTC)
T11 = datetime(2026, 11, 25, 11, tzinfo=UTC)
T12 = datetime(2026, 11, 25, 12, tzinfo=UTC)


def ev(
    uid: str, start: str = "2026-11-25T09:00:00Z", end: str = "2026-11-25T11:00:00Z", **extra: Any
) -> Event:
    return Event.model_validate(
        {"calendar_id": "cal_sub", "event_uid": uid, "start": start, "end": end, **extra}
    )


def known(uid: str, start: datetime = T9, end: datetime = T11) -> KnownPeriod:
    return KnownPeriod(uid, period_id_for(uid), start, end)


def remote(pid: str, start: datetime = T9, end: datetime = T11) -> AvailablePeriod:
    return AvailablePeriod(available_period_id=pid, start=start, end=end)


def kinds(plan: Any) -> list[tuple[str, str | None, str]]:
    return [(a.kind, a.period_id, a.reason) for a in plan.actions]


def test_new_event_is_upserted_and_recorded() -> None:
    plan = plan_changes([ev("e1")], {}, POLICY, NOW)
    assert kinds(plan) == [(ActionKind.UPSERT, "e1", Reason.TIMED)]
    assert plan.state_after() == {"e1": known("e1")}


def test_unchanged_event_is_skipped() -> None:
    plan = plan_changes([ev("e1")], {"e1": known("e1")}, POLICY, NOW)
    assert kinds(plan) == [(ActionKind.SKIP, "e1", PlanReason.UNCHANGED)]
    assert plan.writes == ()
    assert plan.state_after() == {"e1": known("e1")}


def test_moved_event_updates_its_period_in_place() -> None:
    moved = ev("e1", "2026-11-25T10:00:00Z", "2026-11-25T12:00:00Z")
    plan = plan_changes([moved], {"e1": known("e1")}, POLICY, NOW)
    assert kinds(plan) == [(ActionKind.UPSERT, "e1", Reason.TIMED)]
    assert (plan.upserts[0].start, plan.upserts[0].end) == (T10, T12)
    assert plan.state_after()["e1"] == known("e1", T10, T12)


def test_deleted_known_event_deletes_its_period_unknown_one_is_skipped() -> None:
    plan = plan_changes(
        [ev("e1", deleted=True), ev("e2", deleted=True)], {"e1": known("e1")}, POLICY, NOW
    )
    assert kinds(plan) == [
        (ActionKind.DELETE, "e1", Reason.DELETED),
        (ActionKind.SKIP, None, Reason.DELETED),
    ]
    assert plan.state_after() == {}


def test_events_not_in_the_read_keep_their_periods() -> None:
    plan = plan_changes([ev("e2")], {"e1": known("e1")}, POLICY, NOW)
    assert set(plan.state_after()) == {"e1", "e2"}


def test_deletes_come_before_upserts_before_skips() -> None:
    plan = plan_changes(
        [ev("skipme", deleted=True), ev("new"), ev("gone", deleted=True)],
        {"gone": known("gone")},
        POLICY,
        NOW,
    )
    assert [a.kind for a in plan.actions] == [ActionKind.DELETE, ActionKind.UPSERT, ActionKind.SKIP]


def test_newest_version_of_a_repeated_event_wins() -> None:
    old = ev("e1", updated="2026-11-24T10:00:00Z")
    new = ev("e1", "2026-11-25T10:00:00Z", "2026-11-25T12:00:00Z", updated="2026-11-24T11:00:00Z")
    for order in ([old, new], [new, old]):
        plan = plan_changes(order, {}, POLICY, NOW)
        assert [(a.start, a.end) for a in plan.upserts] == [(T10, T12)]


def test_long_uid_gets_a_hashed_id_and_stays_keyed_on_the_uid() -> None:
    uid = "evt_external_" + "a" * 100
    plan = plan_changes([ev(uid)], {}, POLICY, NOW)
    pid = plan.upserts[0].period_id
    assert pid is not None
    assert pid != uid
    assert len(pid) <= 64
    assert plan.state_after()[uid].period_id == pid


def test_event_from_another_calendar_is_not_mirrored() -> None:
    stray = Event.model_validate(
        {
            "calendar_id": "cal_other",
            "event_uid": "e1",
            "start": "2026-11-25T09:00:00Z",
            "end": "2026-11-25T11:00:00Z",
        }
    )
    plan = plan_changes([stray], {"e1": known("e1")}, POLICY, NOW, calendar_id="cal_sub")
    assert kinds(plan) == [(ActionKind.DELETE, "e1", PlanReason.OTHER_CALENDAR)]


def test_failed_writes_keep_the_previous_knowledge() -> None:
    moved = ev("e1", "2026-11-25T10:00:00Z", "2026-11-25T12:00:00Z")
    plan = plan_changes(
        [moved, ev("e2"), ev("e3", deleted=True)],
        {"e1": known("e1"), "e3": known("e3")},
        POLICY,
        NOW,
    )
    failed = [a for a in plan.writes if a.event_uid in {"e1", "e2", "e3"}]
    state = plan.state_after(failed)
    # e1 keeps its old times (so a later sync writes again), e2 is not recorded,
    # e3 stays known (its period still exists and will be deleted later).
    assert state == {"e1": known("e1"), "e3": known("e3")}


def test_reconcile_creates_updates_deletes_owned_and_leaves_foreign_periods() -> None:
    events = [ev("keep"), ev("move", "2026-11-25T10:00:00Z", "2026-11-25T12:00:00Z"), ev("new")]
    mine = {"keep": known("keep"), "move": known("move"), "orphan": known("orphan")}
    account = [remote("keep"), remote("move"), remote("orphan"), remote("someone_elses")]
    plan = plan_reconcile(events, mine, account, POLICY, NOW)
    assert sorted(kinds(plan)) == sorted(
        [
            (ActionKind.DELETE, "orphan", PlanReason.NO_EVENT),
            (ActionKind.UPSERT, "move", Reason.TIMED),
            (ActionKind.UPSERT, "new", Reason.TIMED),
            (ActionKind.SKIP, "keep", PlanReason.IN_SYNC),
            (ActionKind.SKIP, "someone_elses", PlanReason.NOT_OWNED),
        ]
    )
    assert plan.full
    assert set(plan.state_after()) == {"keep", "move", "new"}


def test_reconcile_recreates_an_owned_period_missing_from_the_account() -> None:
    plan = plan_reconcile([ev("e1")], {"e1": known("e1")}, [], POLICY, NOW)
    assert kinds(plan) == [(ActionKind.UPSERT, "e1", Reason.TIMED)]


def test_reconcile_deletes_owned_period_of_a_cancelled_event_with_its_reason() -> None:
    plan = plan_reconcile(
        [ev("e1", status="cancelled")], {"e1": known("e1")}, [remote("e1")], POLICY, NOW
    )
    assert kinds(plan) == [(ActionKind.DELETE, "e1", Reason.CANCELLED)]
    assert plan.state_after() == {}


def test_reconcile_forgets_known_periods_that_are_gone_everywhere() -> None:
    plan = plan_reconcile([], {"e1": known("e1")}, [], POLICY, NOW)
    assert plan.writes == ()
    assert plan.state_after() == {}


def test_explain_lists_every_action() -> None:
    plan = plan_changes([ev("e1"), ev("e2", deleted=True)], {"e2": known("e2")}, POLICY, NOW)
    text = plan.explain()
    lines = text.splitlines()
    assert lines[0].split() == ["action", "reason", "period_id", "start", "end"]
    assert "delete" in lines[1]
    assert "e2" in lines[1]
    assert "upsert" in lines[2]
    assert "2026-11-25 09:00" in lines[2]
    assert plan_changes([], {}, POLICY, NOW).explain() == "(nothing to do)"
