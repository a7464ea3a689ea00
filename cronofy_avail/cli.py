"""The ``cronofy-avail`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._version import __version__

# Commands that later issues build. Until they exist they say so and fail: never a fake success.
_NOT_BUILT: dict[str, str] = {
    "demo": "run the four steps end to end against the embedded emulator",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cronofy-avail",
        description="Control Cronofy Available Periods with a sub calendar.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in _NOT_BUILT.items():
        commands.add_parser(name, help=f"{help_text} (not built yet)")
    from .emulator import cli as emulator_cli

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
    if args.command == "emulator":
        from .emulator import cli as emulator_cli

        return emulator_cli.run(args)
    if args.command in _NOT_BUILT:
        print(
            f"cronofy-avail {args.command}: not built yet "
            f"({_NOT_BUILT[args.command]}). Nothing was run.",
            file=sys.stderr,
        )
        return 3
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover - argparse exits
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
