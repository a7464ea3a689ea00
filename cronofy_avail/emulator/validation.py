"""Input validation the way Cronofy answers it: 422 with a per-parameter ``errors`` body.

Pure: no I/O, no aiohttp. Helpers collect every problem of a request before answering, so a
user sees all of them at once (as Cronofy does), and accept the SDK quirks the contract lists
(booleans as ``True``/``False`` strings, ``{"time", "tzid"}`` objects).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ID_MAX_LENGTH = 64

KEY_REQUIRED = "errors.required"
KEY_INVALID = "errors.invalid"
KEY_TOO_LONG = "errors.too_long"


class ApiError(Exception):
    """An HTTP error answer: status, optional JSON body and extra headers."""

    def __init__(
        self,
        status: int,
        body: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        reason: str = "",
    ) -> None:
        self.status = status
        self.body: dict[str, Any] | None = dict(body) if body is not None else None
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(reason or f"HTTP {status}")


class Errors:
    """Collects ``{"param": [{"key", "description"}]}`` entries; raises one 422 at the end."""

    def __init__(self) -> None:
        self.errors: dict[str, list[dict[str, str]]] = {}

    def add(self, param: str, key: str, description: str) -> None:
        self.errors.setdefault(param, []).append({"key": key, "description": description})

    def required(self, param: str) -> None:
        self.add(param, KEY_REQUIRED, f"{param} must be specified")

    def invalid(self, param: str, description: str) -> None:
        self.add(param, KEY_INVALID, description)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ApiError(422, {"errors": self.errors}, reason="invalid parameters")


def unprocessable(param: str, key: str, description: str) -> ApiError:
    """A 422 with a single error."""
    return ApiError(422, {"errors": {param: [{"key": key, "description": description}]}})


_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def parse_bool(value: Any) -> bool | None:
    """``true``/``True``/``TRUE``/JSON booleans → bool; ``None`` for anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    return None


def bool_param(errors: Errors, name: str, value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    parsed = parse_bool(value)
    if parsed is None:
        errors.invalid(name, f"{name} must be true or false")
        return default
    return parsed


def zone(errors: Errors, name: str, value: Any, *, required: bool) -> ZoneInfo | None:
    """An IANA time zone, or an error on ``name``."""
    if value is None or value == "":
        if required:
            errors.required(name)
        return None
    if not isinstance(value, str):
        errors.invalid(name, f"{name} must be an IANA time zone identifier")
        return None
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a path
        errors.invalid(name, f"{value!r} is not a known IANA time zone identifier")
        return None


def check_id(errors: Errors, name: str, value: Any, *, max_length: int = ID_MAX_LENGTH) -> str:
    """An application-chosen id: a non-empty ASCII string of at most ``max_length`` characters."""
    if value is None or value == "":
        errors.required(name)
        return ""
    if not isinstance(value, str):
        errors.invalid(name, f"{name} must be a string")
        return ""
    if not value.isascii():
        errors.invalid(name, f"{name} must contain only ASCII characters")
        return value
    if len(value) > max_length:
        errors.add(name, KEY_TOO_LONG, f"{name} must be {max_length} characters or fewer")
    return value


def looks_like_time(value: str) -> bool:
    """A date-time rather than a date: ``2026-11-24T09:00:00Z``, or the .NET SDK's
    ``2026-11-24 09:00:00Z`` (a space where ISO-8601 has ``T``)."""
    text = value.strip()
    return len(text) > 10 and text[10] in "Tt "


def _iso(value: str) -> datetime:
    """``datetime.fromisoformat`` after the UTC spellings SDKs send: ``Z``/``z`` and
    pycronofy's documented ``UTC`` suffix (``2016-01-31T12:33:00UTC``)."""
    text = value.strip()
    if text.upper().endswith("UTC"):
        text = text[:-3] + "+00:00"
    return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))


def parse_instant(value: str) -> datetime:
    """A time string with ``Z`` or an offset, as an aware UTC datetime. Raises ``ValueError``.

    Accepts the ``T`` and the .NET SDK's space separator (``2026-11-24 09:00:00Z``)."""
    if not looks_like_time(value):
        raise ValueError("not a time")
    parsed = _iso(value)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("no offset")
    return parsed.astimezone(UTC)


def time_value(
    errors: Errors,
    name: str,
    value: Any,
    *,
    allow_date: bool,
    local_tz: ZoneInfo | None = None,
) -> datetime | date | None:
    """A boundary: a UTC time string, ``{"time", "tzid"}``, or (if allowed) an all-day date.

    Cronofy's docs: ``time`` inside ``{"time", "tzid"}`` is always UTC; ``tzid`` names the
    zone the event belongs to. So a ``time`` without an offset is read as UTC (one with an
    explicit offset is converted: house rule). ``local_tz`` is for the emulator's own control
    API only (a person typing a wall-clock time): there a time without an offset is read in
    ``tzid`` or ``local_tz``.
    """
    if value is None or value == "":
        errors.required(name)
        return None
    if isinstance(value, Mapping):
        raw = value.get("time")
        tz = zone(errors, f"{name}.tzid", value.get("tzid"), required=False)
        if not isinstance(raw, str) or not raw:
            errors.invalid(name, f"{name}.time must be a time string")
            return None
        if not looks_like_time(raw):
            if allow_date:
                return _date(errors, name, raw)
            errors.invalid(name, f"{name} must be a time, not a date")
            return None
        try:
            parsed = _iso(raw)
        except ValueError:
            errors.invalid(name, f"{name}.time {raw!r} is not an ISO-8601 time")
            return None
        if parsed.tzinfo is None:
            # Cronofy: UTC. The control API (local_tz given): wall-clock time in the zone.
            parsed = parsed.replace(tzinfo=(tz or local_tz) if local_tz is not None else UTC)
        return parsed.astimezone(UTC)
    if not isinstance(value, str):
        errors.invalid(name, f"{name} must be a time string")
        return None
    if not looks_like_time(value):
        if allow_date:
            return _date(errors, name, value)
        errors.invalid(name, f"{name} must be a time such as 2026-11-24T09:00:00Z, not a date")
        return None
    try:
        return parse_instant(value)
    except ValueError:
        errors.invalid(name, f"{name} {value!r} is not a UTC time such as 2026-11-24T09:00:00Z")
        return None


def _date(errors: Errors, name: str, value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        errors.invalid(name, f"{name} {value!r} is not a date such as 2026-11-24")
        return None


def date_param(errors: Errors, name: str, value: Any) -> date | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errors.invalid(name, f"{name} must be a date")
        return None
    return _date(errors, name, value)


def check_order(errors: Errors, start: datetime | date | None, end: datetime | date | None) -> None:
    """House rule: an end not after its start is a 422 keyed on ``end``."""
    if start is None or end is None:
        return
    if isinstance(start, datetime) != isinstance(end, datetime):
        errors.invalid("end", "start and end must both be times or both be dates")
        return
    if end <= start:
        errors.invalid("end", "end must be after start")
