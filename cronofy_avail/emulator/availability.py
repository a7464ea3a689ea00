"""Availability computation: interval arithmetic over busy time and Available Periods.

Pure: no I/O. Intervals are half-open ``[start, end)`` pairs of aware UTC datetimes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

Interval = tuple[datetime, datetime]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def normalise(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-empty, merged (touching intervals join)."""
    ordered = sorted((s, e) for s, e in intervals if e > s)
    merged: list[Interval] = []
    for start, end in ordered:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def intersect(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    left, right = normalise(a), normalise(b)
    out: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i][0], right[j][0])
        end = min(left[i][1], right[j][1])
        if start < end:
            out.append((start, end))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(base: Iterable[Interval], remove: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    cuts = normalise(remove)
    for start, end in normalise(base):
        cursor = start
        for cut_start, cut_end in cuts:
            if cut_end <= cursor or cut_start >= end:
                continue
            if cut_start > cursor:
                out.append((cursor, cut_start))
            cursor = max(cursor, cut_end)
            if cursor >= end:
                break
        if cursor < end:
            out.append((cursor, end))
    return out


@dataclass(frozen=True, slots=True)
class MemberInput:
    """One member as the computation sees it."""

    sub: str
    busy: Sequence[Interval]
    """Busy time of the consulted calendars (already filtered: opaque, not cancelled...)."""
    managed_periods: Sequence[Interval] | None = None
    """With managed availability: the stored Available Periods (``None`` = not managed)."""
    own_periods: Sequence[Interval] | None = None
    """The member's ``available_periods`` restriction from the query, if any."""


@dataclass(frozen=True, slots=True)
class GroupInput:
    members: Sequence[MemberInput]
    required: int
    """How many members must be free; ``len(members)`` for ``"all"``."""


@dataclass(frozen=True, slots=True)
class Result:
    start: datetime
    end: datetime
    participants: tuple[str, ...]


def member_free(
    member: MemberInput,
    query: Sequence[Interval],
    *,
    buffer_before: timedelta = timedelta(0),
    buffer_after: timedelta = timedelta(0),
) -> list[Interval]:
    """The member's free time within the query periods.

    Buffers widen busy time: ``before`` must be free before a slot, so it extends each busy
    interval's end; ``after`` extends its start.
    """
    free = normalise(query)
    if member.managed_periods is not None:
        free = intersect(free, member.managed_periods)
    if member.own_periods is not None:
        free = intersect(free, member.own_periods)
    busy = [(s - buffer_after, e + buffer_before) for s, e in member.busy]
    return subtract(free, busy)


def _group_options(
    group: GroupInput, free_by_member: dict[str, list[Interval]]
) -> list[tuple[tuple[str, ...], list[Interval]]]:
    """Each set of ``required`` members of the group, with the time they are all free."""
    options = []
    for combo in itertools.combinations([m.sub for m in group.members], group.required):
        free = normalise(free_by_member[combo[0]])
        for sub in combo[1:]:
            free = intersect(free, free_by_member[sub])
        if free:
            options.append((combo, free))
    return options


def compute_periods(
    groups: Sequence[GroupInput],
    query: Sequence[Interval],
    *,
    required_duration: timedelta,
    buffer_before: timedelta = timedelta(0),
    buffer_after: timedelta = timedelta(0),
) -> list[Result]:
    """Maximal periods, at least ``required_duration`` long, in which every group has
    ``required`` members free throughout; each period names those members.

    With ``required`` below the group's size every qualifying set of members is considered on
    its own, so one member free long enough is found even where the set of free members keeps
    changing around it.
    """
    free_by_member: dict[str, list[Interval]] = {}
    for group in groups:
        for member in group.members:
            free_by_member[member.sub] = member_free(
                member, query, buffer_before=buffer_before, buffer_after=buffer_after
            )
    options: list[tuple[tuple[str, ...], list[Interval]]] = [((), normalise(query))]
    for group in groups:
        combined = []
        for participants, free in options:
            for more, group_free in _group_options(group, free_by_member):
                both = intersect(free, group_free)
                if both:
                    combined.append((tuple(dict.fromkeys(participants + more)), both))
        options = combined
    results = {
        Result(start, end, participants)
        for participants, free in options
        for start, end in free
        if end - start >= required_duration
    }
    return sorted(results, key=lambda r: (r.start, r.end, r.participants))


def slots(
    periods: Sequence[Result],
    *,
    duration: timedelta,
    start_interval: timedelta,
    overlapping: bool,
) -> list[Result]:
    """Slots of ``duration`` inside each period, starting on multiples of ``start_interval``
    (aligned to the epoch, so a 15-minute interval starts at :00, :15, :30, :45 UTC).
    Without ``overlapping`` a slot starts where the previous one ended (rounded up)."""
    out: list[Result] = []
    step = start_interval
    if not overlapping:
        multiples = -(-duration // start_interval)
        step = start_interval * multiples
    for period in periods:
        cursor = _align(period.start, start_interval)
        while cursor + duration <= period.end:
            out.append(Result(cursor, cursor + duration, period.participants))
            cursor += step
    return out


def _align(moment: datetime, interval: timedelta) -> datetime:
    offset = (moment - _EPOCH) % interval
    if not offset:
        return moment
    return moment + (interval - offset)
