"""The ``cronofy-avail`` command.

``demo`` and ``emulator`` need no account; the other commands work against real Cronofy (or
anything ``CRONOFY_API_BASE_URL`` points at) and are registered by :mod:`.commands`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from cronofy_avail._version import __version__
from cronofy_avail.cli.inputs import DefaultsHelpFormatter
from cronofy_avail.cli.output import OutputClosed


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cronofy-avail",
        description="Control Cronofy Available Periods with a sub calendar.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument(
        "--env-file",
        type=Path,
        default=None,
        help="the .env file to read (default: ./.env when it exists; the environment wins)",
    )
    parser.add_argument("--user", help="the user id in the store")
    parser.add_argument("--db", type=Path, help="the SQLite store")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    from cronofy_avail.cli import commands as real
    from cronofy_avail.cli import demo, workshop
    from cronofy_avail.cli import emulator as emulator_cli

    demo.add_arguments(
        commands.add_parser(
            "demo",
            help="the four steps end to end against the embedded emulator (no account needed)",
            formatter_class=DefaultsHelpFormatter,
        )
    )
    emulator_cli.add_arguments(
        commands.add_parser(
            "emulator",
            help="serve a local Cronofy emulator (prints its URL, credentials and tokens)",
            formatter_class=DefaultsHelpFormatter,
        )
    )
    real.register(commands)
    workshop.register(commands)
    return parser


EXIT_INTERRUPTED = 130
EXIT_PIPE_CLOSED = 141
"""128 + SIGPIPE, what a shell reports for a program whose output pipe was closed."""


def _output_closed() -> int:
    """The reader went away (``cronofy-avail status | head -1``): exit quietly. Standard
    output now goes nowhere, so the interpreter's final flush cannot complain either."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_PIPE_CLOSED


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: :func:`_main`, with Ctrl-C at any moment (also while the modules
    load, the first half second) and a closed output pipe ending quietly."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            print("cronofy-avail: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (BrokenPipeError, OutputClosed):
        return _output_closed()


def _main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "direct", None) is not None:
        return int(args.direct(args))
    if args.command == "demo":
        from cronofy_avail.cli import demo

        return demo.run(args)
    if args.command == "emulator":
        from cronofy_avail.cli import emulator as emulator_cli

        return emulator_cli.run(args)
    if getattr(args, "handler", None) is not None:
        from cronofy_avail.cli.commands import run_parsed

        return asyncio.run(run_parsed(args))
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover - argparse exits
    return 2  # pragma: no cover


async def run_commands(
    argv: Sequence[str],
    *,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Parse ``argv`` and run the command in the running event loop."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    if getattr(args, "handler", None) is None:
        parser.print_help(out or sys.stdout)
        return 2
    from cronofy_avail.cli.commands import run_parsed

    return await run_parsed(args, environ=environ, out=out, err=err)


def main_commands(
    argv: list[str],
    *,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Entry point: parse ``argv``, run the command with ``asyncio.run``, return the exit code.

    ``environ`` replaces ``os.environ`` (tests); ``out`` receives the output (and the errors,
    unless ``err`` is given).
    """
    try:
        return asyncio.run(run_commands(argv, environ=environ, out=out, err=err))
    except KeyboardInterrupt:
        print("cronofy-avail: interrupted", file=err or out or sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
