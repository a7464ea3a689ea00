"""Checks of what people type, at the edge, with a message that says what to type instead.

Called by the settings, the notebook widgets and the CLI (as argparse types,
:mod:`cronofy_avail.cli.inputs`): each raises :class:`InputError` (a :class:`ValueError`) whose
message is meant for people.
"""

from __future__ import annotations

import difflib
import functools
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


class InputError(ValueError):
    """A value people typed is not usable; the message says why and what would be."""


@functools.cache
def _zones() -> dict[str, str]:
    """Every IANA zone name, keyed by its lower-case spelling."""
    return {name.lower(): name for name in available_timezones()}


def suggest_tzid(value: str) -> list[str]:
    """The zone names ``value`` probably meant (the same name in other case first)."""
    text = value.strip().replace(" ", "_")
    zones = _zones()
    exact = zones.get(text.lower())
    if exact is not None:
        return [exact]
    close = difflib.get_close_matches(text.lower(), list(zones), n=3, cutoff=0.6)
    return [zones[c] for c in close]


def check_tzid(value: str) -> str:
    """``value`` if it is an IANA time zone name (``Europe/London``), else :class:`InputError`
    naming the likely spelling."""
    text = value.strip()
    valid = False
    if text and text == text.strip("/") and ".." not in text:
        try:
            ZoneInfo(text)
            valid = text in available_timezones() or text == "UTC"
        except (ZoneInfoNotFoundError, ValueError, OSError):
            valid = False
    if valid:
        return text
    suggestions = suggest_tzid(text)
    hint = (
        f"did you mean {' or '.join(repr(s) for s in suggestions)}?"
        if suggestions
        else "use an IANA name such as 'Europe/London', 'America/New_York' or 'UTC'"
    )
    raise InputError(f"{value!r} is not a time zone name (IANA, case-sensitive); {hint}")


def check_public_url(value: str) -> str:
    """The public base URL of the receiver, never a full callback URL.

    ``https://abc.ngrok-free.app`` or ``…/cronofy``; a URL holding ``/notifications/`` is the
    callback URL of one user (the receiver adds that part itself): :class:`InputError`.
    """
    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(
            f"--public-url {value!r} must be an absolute http(s) URL, "
            "e.g. https://abc.ngrok-free.app"
        )
    if "/notifications" in parts.path or parts.query or parts.fragment:
        base = f"{parts.scheme}://{parts.netloc}"
        raise InputError(
            f"--public-url {value!r} looks like a callback URL; give the base URL the receiver "
            f"is reached at (e.g. {base}): the callback path …/cronofy/notifications/KEY is "
            "added for each user"
        )
    return text.rstrip("/")


__all__ = ["InputError", "check_public_url", "check_tzid", "suggest_tzid"]
