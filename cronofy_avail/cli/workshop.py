"""``cronofy-avail workshop``: one emulator for a whole class, and the instructor's page.

Binds every interface by default (attendees' laptops connect over the room's network), prints
the one URL attendees paste and the instructor page's URL, and serves until Ctrl-C / SIGTERM.
Each attendee who joins (the URL carries the join code) gets an isolated account, their own
application and a relay box (their receiver need not be reachable). No token or secret is
printed: attendees receive theirs when they join, and the instructor page opens only on this
machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from typing import TextIO

from cronofy_avail.cli.common import MaskingWriter
from cronofy_avail.cli.logs import logging_to
from cronofy_avail.emulator.config import EmulatorConfig
from cronofy_avail.runtime.serving import raise_open_file_limit
from cronofy_avail.workshop.server import WorkshopServer


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "workshop",
        help="serve one emulator for a workshop and the instructor page (prints the URL "
        "attendees paste)",
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to bind (all interfaces)")  # noqa: S104 - the room must reach it
    parser.add_argument("--port", type=int, default=8181, help="port; 0 picks a free one")
    parser.add_argument(
        "--public-url", help="the URL attendees use (default: this machine's LAN address)"
    )
    parser.add_argument("--debounce", type=float, default=1.0, help="seconds folded per push")
    parser.add_argument(
        "--rate-limit",
        action="store_true",
        help="apply Cronofy's rate limit (off: the emulator keeps one window for every "
        "attendee's application, so one busy kernel would throttle the class; inject 429 "
        "bursts from the page instead)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line first")
    parser.set_defaults(direct=run)


async def serve(args: argparse.Namespace, out: TextIO, stop: asyncio.Event) -> None:
    raise_open_file_limit()
    workshop = WorkshopServer(
        args.host,
        args.port,
        public_url=args.public_url,
        config=EmulatorConfig(debounce=args.debounce, rate_limit_enabled=args.rate_limit),
    )
    await workshop.start()
    try:
        url = workshop.attendee_url
        local = workshop.instructor_url
        info = {
            "attendee_url": url,
            "join_code": workshop.join_code,
            "instructor_url": local,
            "port": workshop.emulator.port,
        }
        if args.json:
            out.write(json.dumps(info) + "\n")
        out.write(
            "Workshop emulator running.\n"
            f"  Attendees paste:   {url}\n"
            f"  Join code:         {workshop.join_code}\n"
            f"  Instructor page:   {local} (opens on this machine only)\n"
            "  (each attendee gets an isolated account, their own application and a relay)\n"
            "Ctrl-C to stop.\n"
        )
        out.flush()
        await stop.wait()
    finally:
        await workshop.stop()


def run(args: argparse.Namespace) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await serve(args, sys.stdout, stop)

    try:
        with logging_to(MaskingWriter(sys.stderr), logging.WARNING):
            asyncio.run(main())
    except OSError as exc:
        print(
            f"cronofy-avail workshop: cannot listen on {args.host}:{args.port}: "
            f"{exc.strerror or exc}; pick another --port",
            file=sys.stderr,
        )
        return 1
    return 0
