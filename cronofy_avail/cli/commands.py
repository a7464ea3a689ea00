"""The real-Cronofy commands of ``cronofy-avail``: setup, serve, status, sync, reconcile,
periods, availability, teardown, notify and replay.

Configured from the environment or a ``.env`` file (:mod:`cronofy_avail.app.settings`);
``CRONOFY_API_BASE_URL`` points them at the emulator. Every handler is
``async def run_xxx(args, settings, out) -> int``; :func:`register` adds them to any argparse
sub-parsers, :func:`run_parsed` runs a parsed command with the one error mapping, and
:func:`main_commands` is a complete entry point (tests call it in-process).

Output is masked: no secret (client secret, tokens, callback keys) reaches ``out``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import traceback
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TextIO, cast

from cronofy_avail.app.explain import EXIT_CONFIG, CommandError, explain
from cronofy_avail.app.settings import (
    ENV_DB_GIVE_UP,
    ENV_METRICS_PORT,
    ConfigError,
    Settings,
)
from cronofy_avail.cli.authorize import add_authorize_arguments, run_authorize
from cronofy_avail.cli.common import MaskingWriter, emit
from cronofy_avail.cli.dev import add_dev_arguments, run_dev
from cronofy_avail.cli.events import add_event_arguments, run_event
from cronofy_avail.cli.inputs import DefaultsHelpFormatter
from cronofy_avail.cli.logs import logging_to
from cronofy_avail.cli.notify import (
    add_notify_arguments,
    add_replay_arguments,
    run_notify,
    run_replay,
)
from cronofy_avail.cli.output import OutputClosed
from cronofy_avail.cli.serve import add_serve_arguments, run_serve, serve
from cronofy_avail.cli.setup import (
    add_setup_arguments,
    add_teardown_arguments,
    run_setup,
    run_teardown,
)
from cronofy_avail.cli.syncing import (
    add_availability_arguments,
    add_status_arguments,
    add_sync_arguments,
    run_availability,
    run_periods,
    run_reconcile,
    run_status,
    run_sync,
)
from cronofy_avail.cli.worker import add_worker_arguments, run_worker

Handler = Callable[[argparse.Namespace, Settings, TextIO], Awaitable[int]]

COMMANDS: tuple[str, ...] = (
    "setup",
    "serve",
    "status",
    "sync",
    "reconcile",
    "periods",
    "availability",
    "teardown",
    "notify",
    "replay",
    "dev",
    "event",
    "authorize",
    "worker",
)


def _common() -> argparse.ArgumentParser:
    """Options every command accepts (after the command name too)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the traceback of an unexpected error",
    )
    common.add_argument(
        "--env-file",
        type=Path,
        default=argparse.SUPPRESS,
        help="the .env file to read (default: ./.env)",
    )
    common.add_argument(
        "--user",
        default=argparse.SUPPRESS,
        help="the user id in the store (default: CRONOFY_AVAIL_USER or 'default')",
    )
    common.add_argument(
        "--db",
        default=argparse.SUPPRESS,
        help="the store: a SQLite file, or a postgresql:// URL for several receivers and "
        "workers (default: CRONOFY_AVAIL_DB or ~/.cronofy_avail/state.db)",
    )
    return common


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add every real-Cronofy command to ``subparsers``; each sets ``handler``."""

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        # A fresh parent each time: argparse lists a shared parent's options once per user.
        parser: argparse.ArgumentParser = subparsers.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[_common()],
            formatter_class=DefaultsHelpFormatter,
        )
        parser.set_defaults(handler=handler, command=name)
        return parser

    add_setup_arguments(
        add(
            "setup",
            run_setup,
            "steps 1 and 2 for the user: sub calendar and push channel (idempotent)",
        )
    )
    add_serve_arguments(add("serve", run_serve, "run the webhook receiver for the stored users"))
    add_worker_arguments(
        add(
            "worker",
            run_worker,
            "run sync jobs from the PostgreSQL queue (receivers enqueue, workers sync)",
        )
    )
    add_status_arguments(
        add("status", run_status, "settings (masked), users and recent deliveries")
    )
    add_sync_arguments(
        add("sync", run_sync, "incremental sync of the sub calendar into Available Periods"),
        full_flag=True,
    )
    add_sync_arguments(
        add("reconcile", run_reconcile, "full reconcile of the sub calendar and the periods"),
        full_flag=False,
    )
    add("periods", run_periods, "list the Available Periods (owned ones marked)")
    add_availability_arguments(
        add("availability", run_availability, "query availability (managed by default)")
    )
    add_teardown_arguments(
        add(
            "teardown",
            run_teardown,
            "close the channel, delete the periods this toolkit owns, forget the user",
        )
    )
    add_notify_arguments(
        add("notify", run_notify, "send a correctly signed notification to a callback URL")
    )
    add_replay_arguments(
        add("replay", run_replay, "ask the running server to process a logged delivery again")
    )
    add_authorize_arguments(
        add(
            "authorize",
            run_authorize,
            "get the user's tokens through your application's OAuth flow (stored for setup)",
        )
    )
    add_dev_arguments(
        add(
            "dev",
            run_dev,
            "the emulator and the webhook receiver in one process, settings written for the "
            "other commands (no account needed)",
        )
    )
    event_help = "act as the user in the emulator: add, move, delete or list events"
    event = subparsers.add_parser("event", help=event_help, description=event_help)
    event.set_defaults(command="event")
    actions = event.add_subparsers(dest="event_action", metavar="ACTION", required=True)
    for action, text in (
        ("add", "add an event to the user's sub calendar"),
        ("move", "move an event of the sub calendar (keeps its uid)"),
        ("delete", "delete an event of the sub calendar"),
        ("list", "list the events of the sub calendar"),
    ):
        parser = actions.add_parser(
            action,
            help=text,
            description=text,
            parents=[_common()],
            formatter_class=DefaultsHelpFormatter,
        )
        parser.set_defaults(handler=run_event, command=f"event {action}")
        add_event_arguments(parser, action)


def load_settings(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment and ``.env``, with ``--user``/``--db`` on top."""
    given: Path | None = getattr(args, "env_file", None)
    env_file = given or Path(".env")
    merged = dict(os.environ if environ is None else environ)
    if getattr(args, "user", None):
        merged["CRONOFY_AVAIL_USER"] = args.user
    if getattr(args, "db", None):
        merged["CRONOFY_AVAIL_DB"] = str(args.db)
    if getattr(args, "give_up_after", None) is not None:  # `worker`: checked with the variable
        merged[ENV_DB_GIVE_UP] = str(args.give_up_after)
    if getattr(args, "metrics_port", None) is not None:  # `worker`: checked with the variable
        merged[ENV_METRICS_PORT] = str(args.metrics_port)
    # The default ./.env may be absent; a file named with --env-file must exist.
    return Settings.load(merged, env_file, env_file_required=given is not None)


async def run_parsed(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run a command parsed by a parser that :func:`register` filled, with the error mapping.

    Failures print one or two lines (cause, fix) to ``err`` and return non-zero; a traceback
    only with ``--debug``. Everything written is masked.
    """
    stdout = MaskingWriter(out if out is not None else sys.stdout)
    stderr = (
        stdout
        if err is None and out is not None
        else MaskingWriter(err or sys.stderr, shared_with=stdout)
    )
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        emit(stderr, "no command given; see --help")
        return 2
    settings: Settings | None = None
    try:
        settings = load_settings(args, environ)
        for secret in settings.secrets():
            stdout.add_secret(secret)
        if getattr(args, "debug", False):
            level = logging.DEBUG
        elif getattr(args, "command", None) in ("serve", "dev", "worker"):
            # A receiver's warnings (a delivery refused for its signature) belong in its output.
            level = logging.WARNING
        else:
            level = logging.ERROR  # a command reports its own failures
        with logging_to(stderr, level):
            return await handler(args, settings, cast(TextIO, stdout))
    except (asyncio.CancelledError, OutputClosed):
        raise  # a closed output: nobody is left to read an error (main exits quietly)
    except (Exception, KeyboardInterrupt) as exc:  # the one place errors end
        explained = explain(exc, settings)
        emit(stderr, f"cronofy-avail {getattr(args, 'command', '')}: {explained.message}")
        if getattr(args, "debug", False):
            stderr.write("".join(traceback.format_exception(exc)))
        return explained.code


__all__ = [
    "COMMANDS",
    "EXIT_CONFIG",
    "CommandError",
    "ConfigError",
    "load_settings",
    "register",
    "run_availability",
    "run_notify",
    "run_parsed",
    "run_periods",
    "run_reconcile",
    "run_replay",
    "run_serve",
    "run_setup",
    "run_status",
    "run_sync",
    "run_teardown",
    "serve",
]
