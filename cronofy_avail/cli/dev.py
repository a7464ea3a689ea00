"""``cronofy-avail dev``: the emulator and the webhook receiver in one process, for trying the
CLI without an account.

It starts a local Cronofy emulator with a ready account, serves the receiver for a store of its
own, writes the connection settings to ``.env`` (``0600``; git-ignored) so every other command
run from the same directory finds them, prints the next commands, and then one line per
delivery and per sync as they happen. Ctrl-C stops both and removes the settings it wrote.

The emulator forgets everything when it stops; so a new ``dev`` run starts with an empty store
(the users of the previous run would point at accounts that no longer exist), and its delivery
numbers start again at 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from cronofy_avail.app.explain import CommandError
from cronofy_avail.app.settings import (
    ENV_ACCESS_TOKEN,
    ENV_API_BASE_URL,
    ENV_CLIENT_ID,
    ENV_CLIENT_SECRET,
    ENV_DB,
    ENV_PUBLIC_URL,
    ENV_REFRESH_TOKEN,
    Settings,
)
from cronofy_avail.app.system import open_system
from cronofy_avail.cli.common import emit
from cronofy_avail.cli.inputs import port_arg, tzid_arg
from cronofy_avail.cli.live import announce_deliveries, lock_path, report_syncs, serving_lock
from cronofy_avail.emulator import Emulator, EmulatorAccount
from cronofy_avail.emulator.config import EmulatorConfig
from cronofy_avail.runtime.store import SQLiteStore, Store
from webhook_server import DEFAULT_PREFIX

MARKER = "# Written by `cronofy-avail dev`"
"""The first line of a settings file ``dev`` wrote (and may therefore replace and remove)."""

DEFAULT_SETTINGS = Path(".env")
DEFAULT_STORE = Path(".cronofy_avail/dev.db")
STORE_MARK = ".dev-store"
"""Suffix of the file next to a store that ``dev`` created (and may therefore empty)."""
READY = "Ready."


def add_dev_arguments(parser: argparse.ArgumentParser) -> None:
    # The one store option is the common --db; dev's default and meaning differ from the
    # other commands' (it never reads CRONOFY_AVAIL_DB: that may name a store of real users).
    for action in parser._actions:
        if "--db" in action.option_strings:
            action.help = (
                f"the SQLite store of this dev run (default: {DEFAULT_STORE}; emptied on start, "
                "so only a store dev created is accepted)"
            )
    parser.add_argument(
        "--port", type=port_arg, default=8181, help="the emulator's port (0: any free one)"
    )
    parser.add_argument(
        "--receiver-port",
        type=port_arg,
        default=8080,
        help="the webhook receiver's port (0: any free one)",
    )
    parser.add_argument(
        "--write-env",
        type=Path,
        default=DEFAULT_SETTINGS,
        help="where to write the connection settings the other commands read",
    )
    parser.add_argument("--email", default="you@example.com", help="the emulated user's email")
    parser.add_argument(
        "--tzid", type=tzid_arg, default="Europe/London", help="the emulated user's time zone"
    )
    parser.add_argument(
        "--debounce",
        type=float,
        default=1.0,
        help="seconds the emulator folds changes into one notification",
    )


def settings_text(emu: Emulator, account: EmulatorAccount, store: Path, public_url: str) -> str:
    values = {
        ENV_API_BASE_URL: emu.base_url,
        ENV_CLIENT_ID: emu.client_id,
        ENV_CLIENT_SECRET: emu.client_secret,
        ENV_ACCESS_TOKEN: account.access_token,
        ENV_REFRESH_TOKEN: account.refresh_token,
        ENV_DB: str(store),
        ENV_PUBLIC_URL: public_url,
    }
    lines = [
        f"{MARKER} (process {os.getpid()}): the local emulator's connection settings. "
        "Removed when it stops.",
        "# Secrets (client secret, tokens): never commit this file (.gitignore lists .env).",
        *(f"{name}={value}" for name, value in values.items()),
    ]
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only, atomically (a reader never sees
    half a file: its appearance is the readiness signal)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise


def ours(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.readline().startswith(MARKER)
    except (OSError, UnicodeDecodeError):
        return False


def remove_ours(path: Path) -> None:
    """Remove the settings file ``dev`` wrote (never one it did not)."""
    with contextlib.suppress(OSError):
        if ours(path):
            path.unlink()


def check_settings_file(path: Path) -> None:
    if path.exists() and not ours(path):
        raise CommandError(
            f"{path} exists and was not written by `cronofy-avail dev`; it is left alone.\n"
            "Fix: move it aside, or pass --write-env with another file (then run the other "
            "commands with --env-file that file)."
        )
    owner = _running_owner(path)
    if owner is not None:
        raise CommandError(
            f"{path} belongs to a `cronofy-avail dev` that is still running (process {owner}); "
            "this one would overwrite it, and remove it when it stops.\nFix: use that one "
            "(Ctrl-C stops it), or run this one in another directory (or with --write-env "
            "another file and --db another store)."
        )


def _running_owner(path: Path) -> str | None:
    """The process id of the running ``dev`` holding the settings file ``path``, or ``None``."""
    try:
        handle = path.open("r", encoding="utf-8")
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            found = re.search(r"\(process (\d+)\)", handle.readline())
            return found.group(1) if found else "unknown"
        except OSError:
            return None
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return None


@contextlib.contextmanager
def holding(path: Path) -> Iterator[None]:
    """Hold a lock on the settings file ``path`` while ``dev`` runs (released by the kernel
    however the process ends): a second ``dev`` sees the file is in use."""
    handle = path.open("r", encoding="utf-8")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        handle.close()


def store_mark(store: Path) -> Path:
    return store.with_name(store.name + STORE_MARK)


def claim_store(store: Path) -> None:
    """Refuse a store ``dev`` did not create (it empties its store on start); mark a new one.

    The default store of a directory is ``dev``'s by definition (older versions did not mark it).
    """
    if store.exists() and not store_mark(store).exists() and store != DEFAULT_STORE.resolve():
        raise CommandError(
            f"{store} exists and was not created by `cronofy-avail dev`: it may hold users set "
            "up against Cronofy, and dev forgets every user of its store on start, so it is "
            f"left alone.\nFix: leave --db out (dev then uses {DEFAULT_STORE} in this "
            "directory) or give a path that does not exist yet."
        )
    store.parent.mkdir(parents=True, exist_ok=True)
    store_mark(store).write_text(
        "This SQLite store was created by `cronofy-avail dev`, which empties it on start.\n",
        encoding="utf-8",
    )


async def _start_empty(store: Store, out: TextIO) -> None:
    """Empty the store of the previous run: its users point at accounts the emulator forgot,
    and delivery numbers start again at 1 (so `replay N` names what this run printed)."""
    assert isinstance(store, SQLiteStore)  # dev runs on a SQLite file of its own
    users = await store.list_users()
    await store.clear()
    if users:
        names = ", ".join(repr(u.user_id) for u in users)
        emit(
            out,
            f"Forgot user(s) {names} of the previous dev run, with their deliveries: the "
            "emulator forgets every account when it stops, so each dev run starts empty.",
        )


def _summary_lookup(emu: Emulator) -> dict[str, str]:
    """Event summaries by event_uid, read from the in-process emulator."""
    found: dict[str, str] = {}
    with contextlib.suppress(Exception):  # a display nicety: never break a sync report
        for account in emu.state.accounts.values():
            for event in account.events.values():
                if event.summary:
                    found[event.event_uid] = event.summary
    return found


async def dev(
    args: argparse.Namespace,
    out: TextIO,
    *,
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
) -> int:
    settings_path: Path = args.write_env
    check_settings_file(settings_path)
    given = getattr(args, "db", None)
    if given is not None and "://" in str(given):
        raise CommandError(
            "dev runs on a SQLite file of its own, not a database URL.\n"
            "Fix: give --db a file path, or leave it out."
        )
    store_path = Path(given or DEFAULT_STORE).expanduser().resolve()  # noqa: ASYNC240 - once
    existing = _existing(store_path)
    started = asyncio.Event()
    with serving_lock(store_path, option="--db"):
        try:
            claim_store(store_path)
            emu = Emulator("127.0.0.1", args.port, config=EmulatorConfig(debounce=args.debounce))
            try:
                await emu.start()
            except OSError as exc:
                raise CommandError(
                    f"cannot start the emulator on 127.0.0.1:{args.port} "
                    f"({exc.strerror or exc}).\nFix: stop what uses the port, or pick another "
                    "with --port (0: any free one)."
                ) from exc
            try:
                return await _run(args, out, emu, settings_path, store_path, stop, started, ready)
            finally:
                await emu.stop()
        except BaseException:
            if not started.is_set():
                # Refused (a port taken, a store not ours): leave no trace of this run, and
                # only of this run (the lock is still ours while its file goes).
                _remove_created(store_path, existing)
            raise


def _traces(store_path: Path) -> list[Path]:
    """The files a dev run may create for its store (the directory apart)."""
    names = [store_path.name + suffix for suffix in ("", "-wal", "-shm", "-journal", STORE_MARK)]
    return [store_path.with_name(n) for n in names] + [lock_path(store_path)]


def _existing(store_path: Path) -> set[Path]:
    return {p for p in [*_traces(store_path), store_path.parent] if p.exists()}


def _remove_created(store_path: Path, existing: set[Path]) -> None:
    """Remove what this run created for its store, nothing that was there before it."""
    for path in _traces(store_path):
        if path not in existing:
            with contextlib.suppress(OSError):
                path.unlink()
    if store_path.parent not in existing:
        with contextlib.suppress(OSError):
            store_path.parent.rmdir()  # only if empty: nothing of anyone else's goes


async def _run(
    args: argparse.Namespace,
    out: TextIO,
    emu: Emulator,
    settings_path: Path,
    store_path: Path,
    stop: asyncio.Event,
    started: asyncio.Event,
    ready: asyncio.Event | None,
) -> int:
    account = await emu.create_account(email=args.email, tzid=args.tzid)
    settings = Settings(
        client_id=emu.client_id,
        client_secret=emu.client_secret,
        api_base_url=emu.base_url,
        db_path=store_path,
    )
    async with open_system(settings) as system:
        coordinator = await system.coordinator(start=False)
        coordinator.add_listener(
            report_syncs(
                out,
                settings,
                tzid_of=lambda _user_id: str(args.tzid),
                summary_of=lambda uid: _summary_lookup(emu).get(uid),
            )
        )
        try:
            server = await system.receiver(
                coordinator,
                port=args.receiver_port,
                on_delivery=announce_deliveries(system.store, out),
            )
        except OSError as exc:
            raise CommandError(
                f"cannot start the receiver on 127.0.0.1:{args.receiver_port} "
                f"({exc.strerror or exc}).\nFix: stop what uses the port, or pick another "
                "with --receiver-port (0: any free one)."
            ) from exc
        public_url = f"http://127.0.0.1:{server.port}"
        # Only once both servers are up: a refused run forgets nobody.
        await _start_empty(system.store, out)
        try:
            await coordinator.start()
            write_private(settings_path, settings_text(emu, account, store_path, public_url))
            try:
                with holding(settings_path):
                    _announce(out, emu, account, settings_path, public_url)
                    started.set()
                    if ready is not None:
                        ready.set()
                    await stop.wait()
            finally:
                remove_ours(settings_path)
                emit(
                    out,
                    f"Stopping: removed {settings_path}; letting running syncs finish (Ctrl-C "
                    "again stops at once)...",
                )
        finally:
            await server.stop()
            await coordinator.stop()
    emit(out, "Stopped.")
    return 0


def _announce(
    out: TextIO, emu: Emulator, account: EmulatorAccount, settings_path: Path, public_url: str
) -> None:
    env = "" if settings_path == DEFAULT_SETTINGS else f" --env-file {settings_path}"
    lines = [
        f"Cronofy emulator   {emu.base_url}  (user {account.email}, time zone {account.tzid})",
        f"Webhook receiver   {public_url}{DEFAULT_PREFIX}",
        f"Settings written   {settings_path} (0600; the other commands read it from this "
        "directory)",
        "",
        "Next, in another terminal in this directory (with the environment activated):",
        f"  cronofy-avail setup{env}                                   # steps 1 and 2",
        f"  cronofy-avail event add{env} --from 09:00 --to 12:00 --wait  # play the user",
        f"  cronofy-avail periods{env}                                 # step 3's result",
        f"  cronofy-avail availability{env}                            # step 4",
        "Each delivery and each sync shows here as it happens. Ctrl-C stops.",
        READY,
    ]
    for line in lines:
        emit(out, line)


async def run_dev(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """The command (``settings`` are not used: ``dev`` makes its own)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    forced: list[bool] = []

    def on_signal() -> None:
        if not stop.is_set():
            stop.set()
        elif main is not None and not forced:
            # A second Ctrl-C while stopping: stop now. Nothing is lost: the intent is in the
            # store and a cut-short sync resumes on the next run.
            forced.append(True)
            main.cancel()

    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal)
            installed.append(sig)
    try:
        return await dev(args, out, stop=stop)
    except asyncio.CancelledError:
        if not forced:
            raise
        if main is not None:
            main.uncancel()  # the cancel was ours, and it is handled: the command ends here
        emit(out, "Stopped at once (second Ctrl-C).")
        return 130
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


__all__ = ["MARKER", "READY", "add_dev_arguments", "dev", "run_dev"]
