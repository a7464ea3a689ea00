"""The ``cronofy-avail`` command.

``demo`` and ``emulator`` need no account; the other commands work against real Cronofy (or
anything ``CRONOFY_API_BASE_URL`` points at) and are registered by :mod:`.commands`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cronofy-avail",
        description="Control Cronofy Available Periods with a sub calendar.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    from . import demo
    from .emulator import cli as emulator_cli

    demo.add_arguments(
        commands.add_parser(
            "demo",
            help="the four steps end to end against the embedded emulator (no account needed)",
        )
    )
    emulator_cli.add_arguments(
        commands.add_parser(
            "emulator",
            help="serve a local Cronofy emulator (prints its URL, credentials and tokens)",
        )
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "demo":
        from . import demo

        return demo.run(args)
    if args.command == "emulator":
        from .emulator import cli as emulator_cli

        return emulator_cli.run(args)
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover - argparse exits
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
