"""The event → Available Period policy, and the period id derived from an event.

Pure: no I/O. Every decision carries a reason, so a dry run can explain itself.

Policy, in order (the first rule that applies wins):

=================  ======================================================================
reason             when
=================  ======================================================================
``deleted``        the event was deleted (``deleted: true``)
``cancelled``      its status is ``cancelled`` (``skip_cancelled``)
``declined``       the user declined it (``skip_declined``)
``tentative``      its status is ``tentative`` and ``skip_tentative`` is set
``transparent``    it is transparent and ``skip_transparent`` is set
``all_day_skipped`` an all-day event while ``include_all_day`` is off
``zero_length``    end equals start
``invalid_times``  end before start
``ended``          it ended at or before *now*: a period in the past offers nothing
``beyond_horizon`` it starts more than ``horizon`` after *now* (Cronofy's sync window is 201
                   days ahead; a reconcile reads no further, so mirroring such an event
                   incrementally would only have the next reconcile delete it again)
``timed``          → a period with the event's UTC start and end
``all_day``        → a period from midnight of the first day to midnight after the last day,
                   in the user's time zone (``tzid``)
=================  ======================================================================

The period id is the ``event_uid`` itself when Cronofy would accept it and it cannot be
mistaken for a hashed id; otherwise ``cav_h_`` followed by 32 hex digits of the SHA-256 of the
``event_uid``. Both branches are disjoint, so the mapping is injective except for a 128-bit
hash collision.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronofy_avail.core.models import (
    AVAILABLE_PERIOD_ID_MAX,
    Event,
    EventStatus,
    LocalizedTime,
    Transparency,
)
from cronofy_avail.core.models import ParticipationStatus as Participation

HASHED_ID_PREFIX = "cav_h_"
_SAFE_ID = re.compile(r"[A-Za-z0-9_.\-]+")


def period_id_for(event_uid: str) -> str:
    """The Available Period id for an event: deterministic, ASCII, at most 64 characters."""
    if (
        len(event_uid) <= AVAILABLE_PERIOD_ID_MAX
        and _SAFE_ID.fullmatch(event_uid)
        and not event_uid.startswith(HASHED_ID_PREFIX)
    ):
        return event_uid
    digest = hashlib.sha256(event_uid.encode("utf-8")).hexdigest()[:32]
    return f"{HASHED_ID_PREFIX}{digest}"


class Reason:
    """Why an event does or does not become a period."""

    DELETED = "deleted"
    CANCELLED = "cancelled"
    DECLINED = "declined"
    TENTATIVE = "tentative"
    TRANSPARENT = "transparent"
    ALL_DAY_SKIPPED = "all_day_skipped"
    ZERO_LENGTH = "zero_length"
    INVALID_TIMES = "invalid_times"
    ENDED = "ended"
    BEYOND_HORIZON = "beyond_horizon"
    TIMED = "timed"
    ALL_DAY = "all_day"


@dataclass(frozen=True, slots=True)
class DesiredPeriod:
    """The Available Period an event should produce."""

    period_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    event_uid: str
    period: DesiredPeriod | None
    reason: str


def _zone(tzid: str) -> ZoneInfo:
    try:
        return ZoneInfo(tzid)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tzid!r}") from exc


def _instant(value: datetime | date | LocalizedTime, zone: ZoneInfo) -> datetime:
    if isinstance(value, LocalizedTime):
        return value.utc
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    # An all-day boundary: midnight of that day where the user lives.
    return datetime.combine(value, time(0), tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class MappingPolicy:
    """Which events become Available Periods, and how.

    ``tzid`` is the user's time zone, used to turn all-day events into whole local days (Cronofy
    does not accept dates for Available Periods).
    """

    tzid: str = "UTC"
    include_all_day: bool = True
    skip_cancelled: bool = True
    skip_declined: bool = True
    skip_tentative: bool = False
    skip_transparent: bool = False
    horizon: timedelta | None = timedelta(days=201)

    def __post_init__(self) -> None:
        _zone(self.tzid)  # fail at construction, not in the middle of a sync

    def decide(self, event: Event, now: datetime) -> Decision:
        """The period ``event`` should produce at ``now``, or ``None``, with the reason."""

        def none(reason: str) -> Decision:
            return Decision(event.event_uid, None, reason)

        if event.deleted:
            return none(Reason.DELETED)
        status = (event.status or "").lower()
        if self.skip_cancelled and status == EventStatus.CANCELLED:
            return none(Reason.CANCELLED)
        if self.skip_declined and (event.participation_status or "") == Participation.DECLINED:
            return none(Reason.DECLINED)
        if self.skip_tentative and status == EventStatus.TENTATIVE:
            return none(Reason.TENTATIVE)
        if self.skip_transparent and (event.transparency or "") == Transparency.TRANSPARENT:
            return none(Reason.TRANSPARENT)
        all_day = event.is_all_day
        if all_day and not self.include_all_day:
            return none(Reason.ALL_DAY_SKIPPED)
        zone = _zone(self.tzid)
        start, end = _instant(event.start, zone), _instant(event.end, zone)
        if end == start:
            return none(Reason.ZERO_LENGTH)
        if end < start:
            return none(Reason.INVALID_TIMES)
        if end <= now:
            return none(Reason.ENDED)
        if self.horizon is not None and start > now + self.horizon:
            return none(Reason.BEYOND_HORIZON)
        period = DesiredPeriod(period_id_for(event.event_uid), start, end)
        return Decision(event.event_uid, period, Reason.ALL_DAY if all_day else Reason.TIMED)
