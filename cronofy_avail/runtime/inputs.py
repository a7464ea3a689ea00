"""Checks of what people type, at the edge, with a message that says what to type instead.

Used as argparse ``type=`` functions by the CLI and the emulator's command (an
:class:`argparse.ArgumentTypeError` becomes ``argument --port: …`` and exit 2, no traceback),
and callable directly by the notebook widgets: :func:`check_tzid` raises :class:`InputError`
(a :class:`ValueError`) whose message is meant for people.
"""

from __future__ import annotations

import argparse
import difflib
import functools
from collections.abc import Callable
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


def tzid_arg(value: str) -> str:
    """argparse type: an IANA time zone name."""
    try:
        return check_tzid(value)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def int_range(low: int, high: int | None = None, *, what: str = "") -> Callable[[str], int]:
    """argparse type: a whole number in ``[low, high]`` (no upper bound when ``high`` is None)."""

    def parse(value: str) -> int:
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{value!r} is not a whole number; use one {bounds}{what}"
            ) from None
        if number < low or (high is not None and number > high):
            raise argparse.ArgumentTypeError(f"{number} is out of range; use one {bounds}{what}")
        return number

    parse.__name__ = "whole number"
    return parse


def float_range(low: float, *, inclusive: bool = True, what: str = "") -> Callable[[str], float]:
    """argparse type: a number ≥ ``low`` (> ``low`` when not ``inclusive``)."""

    def parse(value: str) -> float:
        bounds = f"{'at least' if inclusive else 'more than'} {low:g}"
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{value!r} is not a number; use one {bounds}{what}"
            ) from None
        if number != number or number < low or (not inclusive and number == low):
            raise argparse.ArgumentTypeError(f"{value} is out of range; use one {bounds}{what}")
        return number

    parse.__name__ = "number"
    return parse


port_arg = int_range(0, 65535, what=" (0 picks a free port)")
"""argparse type: a TCP port to listen on, 0 for any free one."""

tunnel_port_arg = int_range(1, 65535)
"""argparse type: the TCP port a server listens on (to pick the ngrok tunnel)."""


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


def public_url_arg(value: str) -> str:
    """argparse type: :func:`check_public_url`."""
    try:
        return check_public_url(value)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--public-url ")) from None


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """``--help`` shows each option's default, unless it is empty, a flag's, or already said."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" in text
            or "default" in text.lower()
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or not action.option_strings
        ):
            return action.help
        return f"{text} (default: %(default)s)"


__all__ = [
    "DefaultsHelpFormatter",
    "InputError",
    "check_public_url",
    "check_tzid",
    "float_range",
    "int_range",
    "port_arg",
    "public_url_arg",
    "suggest_tzid",
    "tunnel_port_arg",
    "tzid_arg",
]
