"""``cronofy-avail emulator``: serve the emulator until Ctrl-C / SIGTERM.

Prints the base URL, the application's client id and secret and a ready account's tokens;
with ``--json`` the first output line is one JSON object holding them (for scripts).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path

from cronofy_avail.cli.common import MaskingWriter
from cronofy_avail.cli.inputs import float_range, int_range, port_arg, tzid_arg
from cronofy_avail.cli.logs import logging_to
from cronofy_avail.emulator.config import EmulatorConfig
from cronofy_avail.emulator.server import Emulator

_POSITIVE = int_range(1)
_SECONDS = float_range(0, inclusive=False)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=port_arg, default=8181, help="port; 0 picks a free one")
    parser.add_argument("--json", action="store_true", help="print one JSON line first")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="also write that JSON object to this file, readable by you only (0600), once "
        "ready; removed when the emulator stops",
    )
    parser.add_argument("--client-id", default=None, help="fixed client id (default: random)")
    parser.add_argument(
        "--client-secret", default=None, help="fixed client secret (default: random)"
    )
    parser.add_argument("--no-account", action="store_true", help="do not create an account")
    parser.add_argument("--email", default=None, help="email of the ready account")
    parser.add_argument(
        "--tzid", type=tzid_arg, default="Europe/London", help="ready account's time zone"
    )
    parser.add_argument(
        "--page-size", type=int_range(1, 1000), default=50, help="events/periods per page"
    )
    parser.add_argument(
        "--token-ttl", type=_POSITIVE, default=3600, help="access token lifetime, seconds"
    )
    parser.add_argument(
        "--rotate-refresh-tokens", action="store_true", help="new refresh token on each refresh"
    )
    parser.add_argument("--no-rate-limit", action="store_true", help="switch rate limiting off")
    parser.add_argument(
        "--rate-limit-per-second", type=_POSITIVE, default=50, help="requests per second"
    )
    parser.add_argument(
        "--rate-limit-per-minute", type=_POSITIVE, default=500, help="requests per minute"
    )
    parser.add_argument(
        "--debounce",
        type=float_range(0),
        default=1.0,
        help="seconds changes are folded into one push",
    )
    parser.add_argument(
        "--retry-initial-delay", type=_SECONDS, default=5.0, help="first delivery retry (s)"
    )
    parser.add_argument(
        "--failure-window",
        type=_SECONDS,
        default=24 * 3600.0,
        help="seconds of failed deliveries before a channel is closed",
    )
    parser.add_argument(
        "--own-changes-count",
        action="store_true",
        help=(
            "the application's own event writes are notified and returned by last_modified "
            "too (default: only external changes, as Cronofy documents)"
        ),
    )
    parser.add_argument(
        "--no-control-api", action="store_true", help="do not serve /_emulator (Cronofy only)"
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name clients use for the control API besides IP addresses and localhost "
        "(e.g. a container's service name); repeat for more. Others get 403 (DNS rebinding)",
    )


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    return EmulatorConfig(
        page_size=args.page_size,
        access_token_ttl=args.token_ttl,
        rotate_refresh_tokens=args.rotate_refresh_tokens,
        rate_limit_enabled=not args.no_rate_limit,
        rate_limit_per_second=args.rate_limit_per_second,
        rate_limit_per_minute=args.rate_limit_per_minute,
        debounce=args.debounce,
        retry_initial_delay=args.retry_initial_delay,
        failure_window=args.failure_window,
        control_api=not args.no_control_api,
        own_changes_count=args.own_changes_count,
        allowed_hosts=tuple(h.strip().lower() for h in args.allowed_host if h.strip()),
    )


async def serve(args: argparse.Namespace, stop: asyncio.Event | None = None) -> int:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    emulator = Emulator(
        args.host,
        args.port,
        config=config_from_args(args),
        client_id=args.client_id,
        client_secret=args.client_secret,
    )
    try:
        await emulator.start()
    except OSError as exc:
        print(
            f"cronofy-avail emulator: cannot listen on {args.host}:{args.port} "
            f"({os.strerror(exc.errno) if exc.errno else exc}).\nFix: stop what uses the "
            "port, or pick another with --port (0: any free one).",
            file=sys.stderr,
        )
        return 1
    if args.host in ("0.0.0.0", "::", ""):  # noqa: S104 - describing, not binding
        print(
            f"cronofy-avail emulator: warning: listening on every interface ({args.host or '*'} "
            f"port {emulator.port}): other machines can reach it, "
            + (
                "and its control API (/_emulator) needs no credentials and returns the client "
                "secret and tokens. Use --no-control-api, or --host 127.0.0.1."
                if not args.no_control_api
                else "with these credentials."
            ),
            file=sys.stderr,
            flush=True,
        )
    try:
        info: dict[str, object] = {
            "base_url": emulator.base_url,
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
            "control_url": f"{emulator.base_url}/_emulator" if not args.no_control_api else None,
        }
        if not args.no_account:
            account = await emulator.create_account(email=args.email, tzid=args.tzid)
            info.update(account.json())
        if args.out is not None:
            try:
                _write_private(args.out, json.dumps(info) + "\n")
            except OSError as exc:
                print(
                    f"cronofy-avail emulator: cannot write {args.out} ({exc.strerror or exc}).\n"
                    "Fix: give --out a file in a directory that exists and you can write.",
                    file=sys.stderr,
                )
                args.out = None  # nothing of ours to remove
                return 1
        if args.json:
            print(json.dumps(info), flush=True)
        else:
            _print_human(info)
        await stop.wait()
    finally:
        if args.out is not None:
            with contextlib.suppress(OSError):
                args.out.unlink()
        await emulator.stop()
        for sig in installed:
            loop.remove_signal_handler(sig)
    if not args.json:
        print("cronofy-avail emulator: stopped", flush=True)
    return 0


def _write_private(path: Path, text: str) -> None:
    """``text`` to ``path``, owner-only (it holds the client secret and tokens) and atomically
    (its appearance is the readiness signal: a reader never sees half of it)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(partial, path)


def _print_human(info: dict[str, object]) -> None:
    lines = [
        f"Cronofy emulator running at {info['base_url']}",
        f"  client_id:      {info['client_id']}",
        f"  client_secret:  {info['client_secret']}",
    ]
    if "access_token" in info:
        lines += [
            "Ready account:",
            f"  sub:            {info['sub']}",
            f"  email:          {info['email']}",
            f"  profile_id:     {info['profile_id']}",
            f"  calendar_id:    {info['calendar_id']}",
            f"  access_token:   {info['access_token']}",
            f"  refresh_token:  {info['refresh_token']}",
        ]
    if info.get("control_url"):
        lines.append(
            f"Control API: {info['control_url']} (docs/reference/emulator.md). Ctrl-C stops."
        )
    else:
        lines.append("Ctrl-C stops.")
    print("\n".join(lines), flush=True)


def run(args: argparse.Namespace) -> int:
    """The CLI entry point (owns its event loop)."""
    try:
        with logging_to(MaskingWriter(sys.stderr), logging.WARNING):
            return asyncio.run(serve(args))
    except KeyboardInterrupt:  # signal handlers unavailable: Ctrl-C still stops cleanly
        return 0
