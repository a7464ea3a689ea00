"""Plan, then apply: turn events and what we know into ordered Available Period actions.

Pure: no I/O. Two planners share one vocabulary:

* :func:`plan_changes` for an incremental sync: the events changed since the watermark, against
  the periods this toolkit believes it wrote (``known``).
* :func:`plan_reconcile` for a full reconcile: every event of the sub calendar's window, against
  the account's actual periods. It creates what is missing, updates what differs, deletes
  periods this toolkit **owns** (their id is in ``known``) that no event wants any more, and
  never touches a period it does not own.

A :class:`Plan` knows the state to record once its writes are applied
(:meth:`Plan.state_after`), given which writes failed: a failed write leaves the previous
knowledge in place so the next sync tries again. :meth:`Plan.changes_after` gives only what
changed, so a commit never replaces a whole ownership record with the view it read.

*Claims* (write-ahead ownership): before an upsert is sent its period id is recorded as claimed.
A claim whose outcome is unknown (the process died, the commit failed) is treated as owned: an
incremental sync never calls it "unchanged", and a later delete or reconcile removes it. A claim
that never landed costs one idempotent delete; a write never recorded would be lost for good.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from cronofy_avail.core.mapping import Decision, MappingPolicy, period_id_for
from cronofy_avail.core.models import AvailablePeriod, Event, utc_instant


@dataclass(frozen=True, slots=True)
class KnownPeriod:
    """A period this toolkit wrote for an event: what it believes Cronofy holds."""

    event_uid: str
    period_id: str
    start: datetime
    end: datetime


class ActionKind:
    UPSERT = "upsert"
    DELETE = "delete"
    SKIP = "skip"


class PlanReason:
    """Reasons the planner adds to the mapping policy's (:class:`.mapping.Reason`)."""

    UNCHANGED = "unchanged"
    IN_SYNC = "in_sync"
    NOT_OWNED = "not_owned"
    NO_EVENT = "no_event"
    OTHER_CALENDAR = "other_calendar"


@dataclass(frozen=True, slots=True)
class Action:
    kind: str
    reason: str
    event_uid: str | None = None
    period_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    @property
    def is_write(self) -> bool:
        return self.kind != ActionKind.SKIP


@dataclass(frozen=True, slots=True)
class OwnershipChanges:
    """What one sync changes in a user's ownership record, and nothing else.

    ``put``: event uid → the period now known to be at Cronofy. ``drop``: event uid → the period
    id no longer held (removed only if the record still holds that id). ``release``: claimed
    period ids whose fate is now known (written and recorded in ``put``, or gone).
    """

    put: Mapping[str, KnownPeriod] = field(default_factory=dict)
    drop: Mapping[str, str] = field(default_factory=dict)
    release: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.put or self.drop or self.release)


@dataclass(frozen=True, slots=True)
class Plan:
    """Ordered actions (deletes, then upserts, then skips) and the state they lead to."""

    actions: tuple[Action, ...]
    previous: Mapping[str, KnownPeriod]
    target: Mapping[str, KnownPeriod]
    full: bool = False
    released: frozenset[str] = frozenset()
    """Claimed period ids a reconcile found settled (absent at Cronofy, or there and right)."""

    @property
    def writes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.is_write)

    @property
    def upserts(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.kind == ActionKind.UPSERT)

    @property
    def deletes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.kind == ActionKind.DELETE)

    @property
    def skips(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.kind == ActionKind.SKIP)

    def counts(self) -> dict[str, int]:
        return {
            ActionKind.UPSERT: len(self.upserts),
            ActionKind.DELETE: len(self.deletes),
            ActionKind.SKIP: len(self.skips),
        }

    def state_after(self, failed: Iterable[Action] = ()) -> dict[str, KnownPeriod]:
        """The knowledge to record once the writes ran; ``failed`` writes keep the old entry."""
        state = dict(self.target)
        for action in failed:
            uid = action.event_uid
            if uid is None:
                continue
            mine = self.previous.get(uid)
            if action.kind == ActionKind.DELETE and (
                mine is None or mine.period_id != action.period_id
            ):
                continue  # deleting a claim or a stale id: nothing recorded to restore
            if uid in self.previous:
                state[uid] = self.previous[uid]
            else:
                state.pop(uid, None)
        return state

    def changes_after(
        self, applied: Iterable[Action] = (), failed: Iterable[Action] = ()
    ) -> OwnershipChanges:
        """Only what these writes changed: commit this, never the whole state.

        Claims of ``applied`` writes are released (the upsert is recorded in ``put``, the
        delete is gone); claims of failed writes stay, their outcome is unknown.
        """
        state = self.state_after(failed)
        put = {uid: k for uid, k in state.items() if self.previous.get(uid) != k}
        drop = {uid: k.period_id for uid, k in self.previous.items() if uid not in state}
        done = {a.period_id for a in applied if a.period_id is not None}
        return OwnershipChanges(put, drop, frozenset(done | self.released))

    def explain(self, tz: tzinfo | None = None) -> str:
        """A plain table of the plan, for dry runs and notebooks (times in ``tz``, else UTC)."""

        def when(value: datetime | None) -> str:
            if value is None:
                return "-"
            return value.astimezone(tz or UTC).strftime("%Y-%m-%d %H:%M")

        if not self.actions:
            return "(nothing to do)"
        rows = [("action", "reason", "period_id", "start", "end")]
        for a in self.actions:
            rows.append(
                (
                    a.kind,
                    a.reason,
                    a.period_id or "-",
                    when(a.start),
                    when(a.end),
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows
        )


def latest_by_uid(events: Iterable[Event]) -> dict[str, Event]:
    """One event per ``event_uid``: the most recently updated (later in the input on a tie).

    Pages can repeat an event that changed while they were read; the newest version wins.
    """
    chosen: dict[str, Event] = {}
    for event in events:
        current = chosen.get(event.event_uid)
        if current is None or _updated_key(event) >= _updated_key(current):
            chosen[event.event_uid] = event
    return chosen


def _updated_key(event: Event) -> float:
    return event.updated.timestamp() if event.updated is not None else float("-inf")


@dataclass(slots=True)
class _Builder:
    previous: Mapping[str, KnownPeriod]
    target: dict[str, KnownPeriod]
    deletes: list[Action] = field(default_factory=list)
    upserts: list[Action] = field(default_factory=list)
    skips: list[Action] = field(default_factory=list)

    def _record(self, into: list[Action], kind: str, decision: Decision, reason: str) -> None:
        """An action carrying the decided period, which becomes the known state."""
        period = decision.period
        assert period is not None
        uid = decision.event_uid
        into.append(Action(kind, reason, uid, period.period_id, period.start, period.end))
        self.target[uid] = KnownPeriod(uid, period.period_id, period.start, period.end)

    def upsert(self, decision: Decision, reason: str) -> None:
        self._record(self.upserts, ActionKind.UPSERT, decision, reason)

    def keep(self, decision: Decision, reason: str) -> None:
        self._record(self.skips, ActionKind.SKIP, decision, reason)

    def delete(self, uid: str | None, period_id: str, reason: str) -> None:
        self.deletes.append(Action(ActionKind.DELETE, reason, uid, period_id))
        if uid is not None:
            self.target.pop(uid, None)

    def delete_claim(self, uid: str | None, period_id: str, reason: str) -> None:
        """Delete a claimed period (maybe written, never recorded); the known state stays."""
        if any(a.period_id == period_id for a in self.deletes):
            return
        self.deletes.append(Action(ActionKind.DELETE, reason, uid, period_id))

    def skip(self, uid: str | None, reason: str, period_id: str | None = None) -> None:
        self.skips.append(Action(ActionKind.SKIP, reason, uid, period_id))

    def plan(self, *, full: bool, released: frozenset[str] = frozenset()) -> Plan:
        return Plan(
            tuple(self.deletes + self.upserts + self.skips),
            dict(self.previous),
            dict(self.target),
            full,
            released,
        )


def _decide(
    event: Event, policy: MappingPolicy, now: datetime, calendar_id: str | None
) -> Decision:
    if calendar_id is not None and event.calendar_id != calendar_id:
        return Decision(event.event_uid, None, PlanReason.OTHER_CALENDAR)
    return policy.decide(event, now)


def plan_changes(
    events: Iterable[Event],
    known: Mapping[str, KnownPeriod],
    policy: MappingPolicy,
    now: datetime,
    *,
    calendar_id: str | None = None,
    claimed: Mapping[str, str | None] | None = None,
) -> Plan:
    """Incremental plan from the events changed since the watermark.

    Events not in ``events`` keep their known period. ``calendar_id`` (the sub calendar)
    guards against events from any other calendar. ``claimed`` (period id → event uid) are
    write-ahead claims whose outcome is unknown: owned, and never "unchanged".
    """
    claims = dict(claimed or {})
    claims_of: dict[str, set[str]] = {}
    for period_id, claim_uid in claims.items():
        if claim_uid is not None:
            claims_of.setdefault(claim_uid, set()).add(period_id)
    b = _Builder(previous=known, target=dict(known))
    for uid, event in latest_by_uid(events).items():
        decision = _decide(event, policy, now, calendar_id)
        mine = known.get(uid)
        wanted = decision.period.period_id if decision.period is not None else None
        for period_id in sorted(claims_of.get(uid, set())):
            if period_id != wanted and (mine is None or period_id != mine.period_id):
                b.delete_claim(uid, period_id, decision.reason)
        if decision.period is None:
            if mine is not None:
                b.delete(uid, mine.period_id, decision.reason)
            elif not claims_of.get(uid):
                b.skip(uid, decision.reason)
            continue
        p = decision.period
        if mine is not None and mine.period_id != p.period_id:
            # The id rule changed between versions: remove the old id, write the new one.
            b.delete(uid, mine.period_id, decision.reason)
        if (
            p.period_id not in claims
            and mine is not None
            and (mine.period_id, mine.start, mine.end)
            == (
                p.period_id,
                p.start,
                p.end,
            )
        ):
            b.keep(decision, PlanReason.UNCHANGED)
        else:
            b.upsert(decision, decision.reason)
    return b.plan(full=False)


def plan_reconcile(
    events: Iterable[Event],
    known: Mapping[str, KnownPeriod],
    remote: Sequence[AvailablePeriod],
    policy: MappingPolicy,
    now: datetime,
    *,
    calendar_id: str | None = None,
    claimed: Mapping[str, str | None] | None = None,
) -> Plan:
    """Full reconcile: converge the account's periods on the sub calendar's events.

    ``events`` is every event of the window; ``remote`` every period of the account. Owned
    periods are those whose id appears in ``known`` or in ``claimed`` (write-ahead claims); a
    period whose id is derived from a live event is adopted whoever wrote it (the id says which
    event it stands for). Claims found absent at Cronofy, or present and right, are released.
    """
    claims = dict(claimed or {})
    remote_by_id = {p.available_period_id: p for p in remote}
    owned = {k.period_id: k for k in known.values()}
    b = _Builder(previous=known, target={})
    desired_ids: set[str] = set()
    undesired: dict[str, Decision] = {}  # by the period id the event would have had
    for uid, event in latest_by_uid(events).items():
        decision = _decide(event, policy, now, calendar_id)
        if decision.period is None:
            undesired[period_id_for(uid)] = decision
            continue
        p = decision.period
        desired_ids.add(p.period_id)
        there = remote_by_id.get(p.period_id)
        if there is not None and (utc_instant(there.start), utc_instant(there.end)) == (
            p.start,
            p.end,
        ):
            b.keep(decision, PlanReason.IN_SYNC)
        else:
            b.upsert(decision, decision.reason)
    for period_id in remote_by_id:
        if period_id in desired_ids:
            continue
        mine = owned.get(period_id)
        why = undesired.pop(period_id, None)
        reason = why.reason if why else PlanReason.NO_EVENT
        if mine is None:
            if period_id in claims:
                b.delete_claim(claims[period_id], period_id, reason)
            else:
                b.skip(None, PlanReason.NOT_OWNED, period_id)
            continue
        b.delete(mine.event_uid, period_id, reason)
    for decision in undesired.values():
        b.skip(decision.event_uid, decision.reason)
    in_sync = {a.period_id for a in b.skips if a.reason == PlanReason.IN_SYNC}
    upserted = {a.period_id for a in b.upserts}
    released = frozenset(
        period_id
        for period_id in claims
        if period_id not in upserted and (period_id not in remote_by_id or period_id in in_sync)
    )
    return b.plan(full=True, released=released)
