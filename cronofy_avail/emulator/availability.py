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
) -> list[list[Interval]]:
    """For each set of ``required`` members of the group, the time they are all free."""
    options = []
    for combo in itertools.combinations([m.sub for m in group.members], group.required):
        free = normalise(free_by_member[combo[0]])
        for sub in combo[1:]:
            free = intersect(free, free_by_member[sub])
        if free:
            options.append(free)
    return options


def _free_by_member(
    groups: Sequence[GroupInput],
    query: Sequence[Interval],
    buffer_before: timedelta,
    buffer_after: timedelta,
) -> dict[str, list[Interval]]:
    return {
        member.sub: member_free(
            member, query, buffer_before=buffer_before, buffer_after=buffer_after
        )
        for group in groups
        for member in group.members
    }


def _covers(free: Sequence[Interval], start: datetime, end: datetime) -> bool:
    return any(s <= start and end <= e for s, e in free)


def participants_free(
    groups: Sequence[GroupInput],
    free_by_member: dict[str, list[Interval]],
    start: datetime,
    end: datetime,
) -> tuple[str, ...] | None:
    """Every member free throughout ``[start, end)``, or ``None`` when some group has fewer
    than ``required`` of them."""
    named: list[str] = []
    for group in groups:
        free = [m.sub for m in group.members if _covers(free_by_member[m.sub], start, end)]
        if len(free) < group.required:
            return None
        named.extend(free)
    return tuple(dict.fromkeys(named))


def compute_periods(
    groups: Sequence[GroupInput],
    query: Sequence[Interval],
    *,
    required_duration: timedelta,
    buffer_before: timedelta = timedelta(0),
    buffer_after: timedelta = timedelta(0),
) -> list[Result]:
    """Maximal periods, at least ``required_duration`` long, in which every group has
    ``required`` members free throughout; in time order, each naming **every** member free
    throughout it.

    With ``required`` below the group's size each qualifying set of members is considered on
    its own (so one member free long enough is found even where the set of free members keeps
    changing around it); a period found for several sets is listed once, and a period inside
    a longer one is not listed.
    """
    free_by_member = _free_by_member(groups, query, buffer_before, buffer_after)
    options: list[list[Interval]] = [normalise(query)]
    for group in groups:
        combined = []
        for free in options:
            for group_free in _group_options(group, free_by_member):
                both = intersect(free, group_free)
                if both:
                    combined.append(both)
        options = combined
    candidates = {
        (start, end) for free in options for start, end in free if end - start >= required_duration
    }
    maximal = sorted(
        c
        for c in candidates
        if not any(o != c and o[0] <= c[0] and c[1] <= o[1] for o in candidates)
    )
    results = []
    for start, end in maximal:
        named = participants_free(groups, free_by_member, start, end)
        if named is not None:
            results.append(Result(start, end, named))
    return results


def compute_slots(
    groups: Sequence[GroupInput],
    query: Sequence[Interval],
    *,
    duration: timedelta,
    start_interval: timedelta,
    overlapping: bool,
    buffer_before: timedelta = timedelta(0),
    buffer_after: timedelta = timedelta(0),
) -> list[Result]:
    """One slot per start time, in time order, naming every member free throughout it.

    Starts are multiples of ``start_interval`` (aligned to the epoch, so a 15-minute interval
    starts at :00, :15, :30, :45 UTC) inside the available periods. Without ``overlapping``
    each slot starts at the first such start at or after the end of the previous slot, so
    slots never overlap even where several members' periods do."""
    free_by_member = _free_by_member(groups, query, buffer_before, buffer_after)
    periods = compute_periods(
        groups,
        query,
        required_duration=duration,
        buffer_before=buffer_before,
        buffer_after=buffer_after,
    )
    starts: set[datetime] = set()
    for period in periods:
        cursor = _align(period.start, start_interval)
        while cursor + duration <= period.end:
            starts.add(cursor)
            cursor += start_interval
    out: list[Result] = []
    for start in sorted(starts):
        if not overlapping and out and start < out[-1].end:
            continue
        named = participants_free(groups, free_by_member, start, start + duration)
        if named is not None:
            out.append(Result(start, start + duration, named))
    return out


def check_slots(
    groups: Sequence[GroupInput],
    slots: Sequence[Interval],
    *,
    buffer_before: timedelta = timedelta(0),
    buffer_after: timedelta = timedelta(0),
) -> list[Result]:
    """``query_slots``: each asked-for slot that is available, in time order."""
    free_by_member = _free_by_member(groups, slots, buffer_before, buffer_after)
    out = []
    for start, end in sorted(set(slots)):
        named = participants_free(groups, free_by_member, start, end)
        if named is not None:
            out.append(Result(start, end, named))
    return out


def _align(moment: datetime, interval: timedelta) -> datetime:
    offset = (moment - _EPOCH) % interval
    if not offset:
        return moment
    return moment + (interval - offset)
