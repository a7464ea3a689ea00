"""A throwaway PostgreSQL cluster for the tests: ``initdb`` + ``pg_ctl`` in a temp dir.

:func:`start_cluster` creates a cluster in a fresh directory, listening on 127.0.0.1 on a free
port (and on a unix socket in the same directory), with trust authentication for the one
superuser (nothing else can reach it: loopback only, and the directory is private). initdb
refuses to run as root: as root the cluster belongs to the ``postgres`` system user (Debian's
package creates it) and every command runs through ``runuser``. :meth:`Cluster.stop` stops it
and removes the directory.

Where PostgreSQL or the driver is missing the tests skip with the install command; with ``CI``
set they fail instead, so a missing install step cannot pass green.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

INSTALL = "apt-get update && apt-get install -y postgresql"
DRIVER_INSTALL = 'pip install -e ".[postgres]"'
SUPERUSER = "cronofy_test"


def missing(reason: str, install: str = INSTALL) -> None:
    """Skip (or, in CI, fail) a test that needs PostgreSQL."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must install it: {install})")
    pytest.skip(f"{reason}: {install}")


def find_bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` live: ``pg_config --bindir``, Debian's versioned
    directory, or the ``PATH``."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(  # noqa: S603 - a fixed local tool
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    bindir: Path
    root: Path
    port: int
    run_as: str | None
    durable: bool = False
    """Commits survive a crash of the server (``pg_ctl stop -m immediate``): with
    ``synchronous_commit=off`` (faster, the default here) the last ones acknowledged may not.
    The machine never crashes in a test, so ``fsync`` stays off either way."""
    fsync: bool = False
    """Production durability as well (``fsync`` and full-page writes on): for benchmarks of
    the CPU a commit costs, not for tests."""

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def _cmd(self, *argv: str) -> list[str]:
        if self.run_as is None:
            return list(argv)
        return ["runuser", "-u", self.run_as, "--", *argv]

    def run(self, *argv: str) -> None:
        done = subprocess.run(  # noqa: S603 - fixed local binaries
            self._cmd(*argv), capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(argv[:2])} failed ({done.returncode}): {done.stderr[-2000:]}\n{log}"
            )

    def start(self) -> None:
        """Create the cluster (initdb) and start its server."""
        self.run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.datadir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        self.start_server()

    def _pg_ctl(self, *argv: str) -> None:
        self.run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *argv)

    @property
    def _options(self) -> str:
        return (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.root} -c fsync={'on' if self.fsync else 'off'} "
            f"-c synchronous_commit={'on' if self.durable or self.fsync else 'off'} "
            f"-c full_page_writes={'on' if self.fsync else 'off'} -c max_connections=200"
        )

    def start_server(self) -> None:
        """Start the server of an existing cluster; returns once it accepts connections."""
        self._pg_ctl("-l", str(self.log), "-o", self._options, "-w", "-t", "60", "start")

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server and keep the cluster (``mode``: ``smart``, ``fast`` or
        ``immediate``, as ``pg_ctl stop -m``); returns once it is down."""
        self._check_mode(mode)
        self._pg_ctl("-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart -m mode``: every connection is cut (``immediate``: without a
        shutdown checkpoint, as a crash); returns once the server accepts connections again."""
        self._check_mode(mode)
        self._pg_ctl(
            "-m", mode, "-l", str(self.log), "-o", self._options, "-w", "-t", "60", "restart"
        )

    @staticmethod
    def _check_mode(mode: str) -> None:
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"pg_ctl mode {mode!r}: use smart, fast or immediate")

    def run_quiet_stop(self) -> None:
        """Stop a half-started server and forget its data directory (a fresh initdb follows)."""
        with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
            self.run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "stop")
        shutil.rmtree(self.datadir, ignore_errors=True)
        self.log.unlink(missing_ok=True)

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
            self.run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def start_cluster(*, durable: bool = False, fsync: bool = False) -> Cluster:
    """Start a throwaway cluster (skips or, in CI, fails where PostgreSQL is missing);
    ``durable``, ``fsync``: see :attr:`Cluster.durable`, :attr:`Cluster.fsync`."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing("the PostgreSQL driver (psycopg) is not installed", DRIVER_INSTALL)
    bindir = find_bindir()
    if bindir is None:
        missing("PostgreSQL (initdb, pg_ctl) is not installed")
        raise AssertionError("unreachable")
    run_as: str | None = None
    root = Path(tempfile.mkdtemp(prefix="cronofy-pg-"))
    if os.geteuid() == 0:
        # initdb refuses root: the cluster belongs to the system user the package created.
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            missing("running as root and there is no 'postgres' system user for initdb")
            raise AssertionError("unreachable") from None
        run_as = account.pw_name
        os.chown(root, account.pw_uid, account.pw_gid)
    os.chmod(root, 0o700)
    for attempt in range(3):
        cluster = Cluster(
            bindir=bindir,
            root=root,
            port=_free_port(),
            run_as=run_as,
            durable=durable,
            fsync=fsync,
        )
        try:
            cluster.start()
        except RuntimeError:
            # Another process may have taken the free port between the probe and the start.
            cluster.run_quiet_stop()
            if attempt == 2:
                shutil.rmtree(root, ignore_errors=True)
                raise
            continue
        except BaseException:
            cluster.stop()
            raise
        return cluster
    raise AssertionError("unreachable")
