"""``cronofy-avail workshop``: one emulator for a whole class, and the instructor's page.

Binds every interface by default (attendees' laptops connect over the room's network), prints
the one URL attendees paste and the instructor page's URL, and serves until Ctrl-C / SIGTERM.
Each attendee who joins gets an isolated account and a relay box (their receiver need not be
reachable). No token or secret is printed: attendees receive theirs when they join.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import sys
from typing import TextIO

from cronofy_avail.emulator.classroom import WORKSHOP_PATH, add_classroom_routes
from cronofy_avail.emulator.config import EmulatorConfig
from cronofy_avail.emulator.server import Emulator


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
        help="apply Cronofy's per-application rate limit to the whole class (off: the class "
        "shares one application; inject 429 bursts from the page instead)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line first")
    parser.set_defaults(direct=run)


def lan_address() -> str:
    """This machine's address on the network that holds the default route (no packet is
    sent: connecting a UDP socket only picks the interface); 127.0.0.1 when offline."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere
            address: str = probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"
    return address


def attendee_url(host: str, port: int, public_url: str | None) -> str:
    if public_url:
        return public_url.rstrip("/")
    shown = lan_address() if host in ("0.0.0.0", "", "::") else host  # noqa: S104
    return f"http://{shown}:{port}"


async def serve(args: argparse.Namespace, out: TextIO, stop: asyncio.Event) -> None:
    config = EmulatorConfig(debounce=args.debounce, rate_limit_enabled=args.rate_limit)
    emulator = Emulator(args.host, args.port, config=config)
    classroom = add_classroom_routes(emulator.app)
    await emulator.start()
    try:
        url = attendee_url(args.host, emulator.port, args.public_url)
        classroom.attendee_url = url
        info = {"attendee_url": url, "instructor_url": url + WORKSHOP_PATH, "port": emulator.port}
        if args.json:
            out.write(json.dumps(info) + "\n")
        out.write(
            "Workshop emulator running.\n"
            f"  Attendees paste:   {url}\n"
            f"  Instructor page:   {url}{WORKSHOP_PATH}\n"
            "  (each attendee gets an isolated account and a relay for their receiver)\n"
            "Ctrl-C to stop.\n"
        )
        out.flush()
        await stop.wait()
    finally:
        await emulator.stop()


def run(args: argparse.Namespace) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await serve(args, sys.stdout, stop)

    try:
        asyncio.run(main())
    except OSError as exc:
        print(
            f"cronofy-avail workshop: cannot listen on {args.host}:{args.port}: "
            f"{exc.strerror or exc}; pick another --port",
            file=sys.stderr,
        )
        return 1
    return 0
