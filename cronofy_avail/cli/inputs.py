"""argparse types for what people type on the command line (an
:class:`argparse.ArgumentTypeError` becomes ``argument --port: …`` and exit 2, no traceback).
The checks themselves are :mod:`cronofy_avail.app.inputs`, shared with the notebook.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from cronofy_avail.app.inputs import InputError, check_public_url, check_tzid


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
    "float_range",
    "int_range",
    "port_arg",
    "public_url_arg",
    "tunnel_port_arg",
    "tzid_arg",
]
