"""``POST /v1/availability`` bodies read the way Cronofy reads them, into plain values.

Pure: no I/O. The emulator parses availability queries itself instead of through the client's
request models, because it must accept everything Cronofy and its SDKs send: times as
``{"time", "tzid"}`` or in the .NET SDK's format, ``query_slots`` instead of ``query_periods``,
``available_periods`` as the old name of ``query_periods``, buffers as ``{"minutes"}`` or
``{"minimum": {"minutes"}, "maximum": {"minutes"}}``, and ``max_results`` from 1 to 512.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cronofy_avail.emulator.validation import Errors, parse_bool, time_value

MAX_RESULTS = 512
"""The largest ``max_results`` (the .NET SDK refuses anything outside 1..512)."""

RESPONSE_FORMATS = ("periods", "slots", "overlapping_slots")

Interval = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class MemberQuery:
    sub: str
    calendar_ids: list[str] | None
    managed_availability: bool
    available_periods: list[Interval] | None


@dataclass(frozen=True, slots=True)
class GroupQuery:
    members: list[MemberQuery]
    required: int | None
    """``None`` for ``"all"``."""


@dataclass(frozen=True, slots=True)
class AvailabilityQuery:
    groups: list[GroupQuery]
    required_duration: timedelta
    query_periods: list[Interval]
    query_slots: list[datetime] | None
    start_interval: timedelta | None
    buffer_before: timedelta
    buffer_after: timedelta
    response_format: str
    max_results: int | None


def _minutes(errors: Errors, name: str, value: Any, *, required: bool) -> timedelta | None:
    """``{"minutes": n}`` (n > 0). SDKs never send a bare number, but pycronofy maps one."""
    if value is None:
        if required:
            errors.required(name)
        return None
    raw = value.get("minutes") if isinstance(value, Mapping) else None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
        errors.invalid(name, f"{name} must be an object such as {{'minutes': 30}}")
        return None
    return timedelta(minutes=raw)


def _buffer_side(errors: Errors, name: str, value: Any) -> timedelta:
    """``{"minutes"}`` or ``{"minimum": {"minutes"}, "maximum": {"minutes"}}``.

    The minimum is the buffer that must be free; a maximum only matters to sequenced
    availability, which the emulator does not serve (house rule: ignored)."""
    if value is None:
        return timedelta(0)
    if not isinstance(value, Mapping):
        errors.invalid("buffer", f"buffer.{name} must be an object")
        return timedelta(0)
    if "minimum" in value:
        found = _minutes(errors, f"buffer.{name}.minimum", value["minimum"], required=True)
    elif "minutes" in value:
        found = _minutes(errors, f"buffer.{name}", value, required=True)
    else:
        found = None
    if "maximum" in value:
        _minutes(errors, f"buffer.{name}.maximum", value["maximum"], required=True)
    return found or timedelta(0)


def _periods(errors: Errors, name: str, value: Any) -> list[Interval]:
    out: list[Interval] = []
    if not isinstance(value, list):
        errors.invalid(name, f"{name} must be a list of {{start, end}} objects")
        return out
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            errors.invalid(name, f"{name}[{index}] must be an object")
            continue
        start = time_value(errors, name, item.get("start"), allow_date=False)
        end = time_value(errors, name, item.get("end"), allow_date=False)
        if isinstance(start, datetime) and isinstance(end, datetime):
            if end <= start:
                errors.invalid(name, f"{name}[{index}]: end must be after start")
            else:
                out.append((start, end))
    return out


def _member(errors: Errors, value: Any) -> MemberQuery | None:
    # A bare sub string is not accepted: pycronofy maps it to {"sub": ...} before sending.
    if not isinstance(value, Mapping) or not isinstance(value.get("sub"), str):
        errors.invalid("participants", "each member must be an object with a sub")
        return None
    calendar_ids = value.get("calendar_ids")
    if calendar_ids is not None and (
        not isinstance(calendar_ids, list) or not all(isinstance(c, str) for c in calendar_ids)
    ):
        errors.invalid("participants", "calendar_ids must be a list of calendar ids")
        calendar_ids = None
    managed = False
    if value.get("managed_availability") is not None:
        parsed = parse_bool(value.get("managed_availability"))
        if parsed is None:
            errors.invalid("participants", "managed_availability must be true or false")
        managed = bool(parsed)
    own = None
    if value.get("available_periods") is not None:
        own = _periods(errors, "participants", value["available_periods"])
    return MemberQuery(str(value["sub"]), calendar_ids, managed, own)


def _group(errors: Errors, value: Any) -> GroupQuery | None:
    if not isinstance(value, Mapping) or not isinstance(value.get("members"), list):
        errors.invalid("participants", "each participant group needs a members list")
        return None
    members = [m for m in (_member(errors, raw) for raw in value["members"]) if m is not None]
    required_raw = value.get("required", "all")
    required: int | None = None
    if required_raw != "all":
        if (
            isinstance(required_raw, bool)
            or not isinstance(required_raw, int)
            or not 1 <= required_raw <= len(value["members"])
        ):
            errors.invalid("participants", "required must be all or between 1 and the member count")
        else:
            required = required_raw
    if not value["members"]:
        errors.invalid("participants", "a participant group needs at least one member")
    return GroupQuery(members, required)


def parse_availability(body: Mapping[str, Any], errors: Errors) -> AvailabilityQuery | None:
    """The query, or ``None`` with every problem recorded in ``errors``."""
    participants = body.get("participants")
    groups: list[GroupQuery] = []
    if participants is None:
        errors.required("participants")
    elif isinstance(participants, list) and participants:
        groups = [g for g in (_group(errors, raw) for raw in participants) if g is not None]
    else:
        errors.invalid("participants", "participants must be a non-empty list of groups")
    duration = _minutes(errors, "required_duration", body.get("required_duration"), required=True)
    raw_periods = body.get("query_periods", body.get("available_periods"))
    raw_slots = body.get("query_slots")
    query: list[Interval] = []
    slots: list[datetime] | None = None
    if raw_periods is not None and raw_slots is not None:
        errors.invalid("query_slots", "give query_periods or query_slots, not both")
    elif raw_slots is not None:
        slots = []
        if not isinstance(raw_slots, list) or not raw_slots:
            errors.invalid("query_slots", "query_slots must be a non-empty list of {start}")
        else:
            for index, item in enumerate(raw_slots):
                start = (
                    time_value(errors, "query_slots", item.get("start"), allow_date=False)
                    if isinstance(item, Mapping)
                    else None
                )
                if isinstance(start, datetime):
                    slots.append(start)
                elif not isinstance(item, Mapping):
                    errors.invalid("query_slots", f"query_slots[{index}] must be an object")
    elif raw_periods is None:
        errors.required("query_periods")
    else:
        query = _periods(errors, "query_periods", raw_periods)
        if not query and isinstance(raw_periods, list) and not raw_periods:
            errors.invalid("query_periods", "query_periods must hold at least one period")
    start_interval = _minutes(errors, "start_interval", body.get("start_interval"), required=False)
    buffer = body.get("buffer")
    before = after = timedelta(0)
    if buffer is not None:
        if not isinstance(buffer, Mapping):
            errors.invalid("buffer", "buffer must be an object")
        else:
            before = _buffer_side(errors, "before", buffer.get("before"))
            after = _buffer_side(errors, "after", buffer.get("after"))
    response_format = body.get("response_format") or "periods"
    if response_format not in RESPONSE_FORMATS:
        errors.invalid("response_format", f"response_format must be one of {RESPONSE_FORMATS}")
    max_results = body.get("max_results")
    if max_results is not None and (
        isinstance(max_results, bool)
        or not isinstance(max_results, int)
        or not 1 <= max_results <= MAX_RESULTS
    ):
        errors.invalid("max_results", f"max_results must be between 1 and {MAX_RESULTS}")
        max_results = None
    if errors or duration is None:
        return None
    if slots is not None:
        query = [(s, s + duration) for s in slots]
    return AvailabilityQuery(
        groups=groups,
        required_duration=duration,
        query_periods=query,
        query_slots=slots,
        start_interval=start_interval,
        buffer_before=before,
        buffer_after=after,
        response_format=str(response_format),
        max_results=max_results,
    )


def members_of(groups: Sequence[GroupQuery]) -> list[MemberQuery]:
    return [m for g in groups for m in g.members]
