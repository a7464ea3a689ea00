"""``serve`` itself at 1 user and at 10,000: the real command, as a subprocess, its output
going to a file, measured from outside (issue 24: "`serve` at 10,000 users within 1.2x of
`serve` at one user").

Each size gets its own SQLite store, seeded beforehand through the store's API (three
secrets a user: callback key, access and refresh token, all registered with the output's
mask as ``serve`` does), and its own ``cronofy-avail serve`` process. Cronofy is a listener
here that accepts connections and never answers, so syncs (and the channel checks before
them) are held out of the measurement window: what is measured is the acknowledgement, the
delivery's line in the output file, and the coordinator's bookkeeping of a request.

* start-up: from the process's spawn to its ``Serving`` line (Python's imports included);
* warm-up (not timed for the figure): one signed change for every user, so every callback
  key has been seen and every user's sync is queued (held) before the rounds, at both sizes;
* sequential: one keep-alive connection posting back to back for a second, rotating over the
  users' URLs: the p50 of the ack latency;
* load: 64 keep-alive connections for 2 seconds: acks/s, and the ``serve`` process's CPU
  (``utime + stime`` from ``/proc/<pid>/stat``) and acks over the run.

The sizes are paired: each of the 8 rounds measures both back to back (the two sequential
runs, then the two loaded runs), which goes first alternating round by round, so a drift of
the machine and an advantage of going first or second weigh on both. On 2 shared cores the
rate of one run swings by a quarter from one run to the next; the ratios are therefore taken
within a round (runs seconds apart), and the figure is the median of the rounds' ratios for
p50 and acks/s, shown with their min-max so the noise is visible. CPU per ack is each size's
CPU over all its loaded runs divided by all their acks (the rounds' ratios' min-max beside).
The per-size p50 and acks/s shown are the medians of that size's rounds. About 85 s in all
(seeding 10,000 users, the warm-up at 10,000 and stopping ``serve`` take 30 of them); ``wrk``
takes whole seconds only, so shorter runs are not an option.

Both processes are left equally idle while the other is measured: Cronofy being held, each
has only its held calls' timeouts to handle (a sync's or a channel check's, every 20 s, the
client's ``sock_read``; then, at 10,000 users, the next user's check or sync starts). The CPU
each spends while the other size is measured is read from ``/proc`` and shown ("idle while
the other ran"): a few ms a second at either size (under 1 % of a loaded run's), so it is
neither subtracted nor avoided.

``wrk`` drives the load when installed (see :mod:`benchmarks.wrk`), else
:mod:`benchmarks.loadgen`.

``python -m benchmarks.bench_serve [--users N] [--profile FILE]``: one size alone (8 rounds
of the sequential and loaded runs; medians, CPU per ack over all runs), ``serve`` under
cProfile when asked (profiling ``serve``'s own wiring at 10,000 users).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cronofy_avail
from cronofy_avail.core.signatures import SIGNATURE_HEADER, sign
from cronofy_avail.runtime.steps import callback_url_for
from cronofy_avail.runtime.store import SQLiteStore, StoredCredentials, UserRecord, UserState

from . import wrk

MANY = 10_000
ROUNDS = 8
SEQUENTIAL_SECONDS = 1.0
LOAD_SECONDS = 2.0
CONNECTIONS = 64
CLIENT_ID = "bench_client_id"
CLIENT_SECRET = "CRN_bench_serve_secret_0123456789"  # noqa: S105 - a fixed test value
START_TIMEOUT = 600.0
READY_LINE = "Serving; Ctrl-C stops."
SEED_AT_ONCE = 500
"""Users saved concurrently while seeding (each ``save_user`` is its own transaction)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def seed(db_path: Path, count: int, public_url: str) -> list[str]:
    """``count`` set-up users in a new SQLite store at ``db_path``, synced a moment ago (no
    reconcile due, no pending intent); returns their callback URLs."""
    now = datetime.now(UTC)
    store = await SQLiteStore.open(db_path)
    urls: list[str] = []
    try:
        users: list[UserRecord] = []
        for i in range(count):
            user = UserRecord(
                user_id=f"u{i:05d}",
                credentials=StoredCredentials(
                    f"acc_{os.urandom(12).hex()}", f"ref_{os.urandom(12).hex()}"
                ),
                calendar_id=f"cal_{i}",
                channel_id=f"chn_{i}",
                state=UserState.IDLE,
                watermark=now,
                last_reconcile_at=now,
                reconcile_due_at=now + timedelta(days=1),
            )
            user.callback_url = callback_url_for(f"{public_url}/cronofy", user.callback_key)
            users.append(user)
            urls.append(user.callback_url)
        for start in range(0, count, SEED_AT_ONCE):
            await asyncio.gather(*(store.save_user(u) for u in users[start : start + SEED_AT_ONCE]))
    finally:
        await store.close()
    return urls


class HeldCronofy:
    """A "Cronofy" that accepts connections and never answers: every sync and channel check
    waits (until the client's 20 s ``sock_read`` timeout, then its retries), so none runs in
    the measurement window. :meth:`release` lets them all fail at once (``serve`` still takes
    seconds to stop: the running syncs retry the refused connection with backoff)."""

    def __init__(self, server: asyncio.Server, held: list[asyncio.StreamWriter]) -> None:
        self.server = server
        self.held = held
        port = server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def release(self) -> None:
        self.server.close()
        for writer in self.held:
            writer.close()
        self.held.clear()


@asynccontextmanager
async def held_cronofy() -> AsyncIterator[HeldCronofy]:
    """A :class:`HeldCronofy` for the time of the block."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        with contextlib.suppress(ConnectionError):
            while await reader.read(65536):
                pass

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    cronofy = HeldCronofy(server, held)
    try:
        yield cronofy
    finally:
        cronofy.release()
        with contextlib.suppress(Exception):
            await server.wait_closed()


def cpu_seconds(pid: int) -> float:
    """``utime + stime`` of a process, from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Served:
    """One running ``serve`` process and what it was measured at (one entry a round)."""

    users: int
    process: asyncio.subprocess.Process
    urls: list[str]
    log: Path
    startup: float
    start_lines: int
    """Lines written before serving (``serve``'s start-up output)."""
    warmup_rate: float = 0.0
    p50: list[float] = field(default_factory=list)
    rate: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    """CPU seconds of each loaded run."""
    acks: list[int] = field(default_factory=list)
    """Acknowledgements of each loaded run."""
    idle_cpu: float = 0.0
    """CPU seconds spent while the other size was measured (its background work)."""
    idle_seconds: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def cpu_per_ack(self) -> list[float]:
        return [spent / max(1, acks) for spent, acks in zip(self.cpu, self.acks, strict=True)]

    def lines(self) -> int:
        with self.log.open("rb") as handle:
            return sum(1 for _ in handle)


def _signed() -> tuple[str, dict[str, str]]:
    body = json.dumps(
        {
            "notification": {"type": "change", "changes_since": "2026-11-24T09:00:00Z"},
            "channel": {"channel_id": "chn_bench"},
        }
    )
    return body, {
        SIGNATURE_HEADER: sign(body.encode(), CLIENT_SECRET),
        "Content-Type": "application/json",
    }


@asynccontextmanager
async def serving(
    tmp: Path, users: int, cronofy: HeldCronofy, *, profile: Path | None = None
) -> AsyncIterator[Served]:
    """``cronofy-avail serve`` for ``users`` seeded users, output to a file, until the end."""
    port = _free_port()
    public = f"http://127.0.0.1:{port}"
    db = tmp / f"serve-{users}.db"
    urls = await seed(db, users, public)
    log = tmp / f"serve-{users}.log"
    environ = {
        **os.environ,
        # The code measured is the code this benchmark imported (not another checkout's
        # installed copy), unless PYTHONPATH says otherwise (a run against another tree).
        "PYTHONPATH": os.environ.get("PYTHONPATH") or str(Path(cronofy_avail.__file__).parents[1]),
        "CRONOFY_CLIENT_ID": CLIENT_ID,
        "CRONOFY_CLIENT_SECRET": CLIENT_SECRET,
        "CRONOFY_API_BASE_URL": cronofy.url,
    }
    command = ["--db", str(db), "serve", "--port", str(port), "--public-url", public]
    runner = ["-m", "cProfile", "-o", str(profile)] if profile is not None else []
    with log.open("wb") as out:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *runner,
            "-m",
            "cronofy_avail.cli.main",
            *command,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            cwd=tmp,  # no ./.env of the project is read
            env=environ,
        )
    try:
        deadline = started + START_TIMEOUT
        while READY_LINE not in log.read_text(errors="replace"):
            if process.returncode is not None or time.perf_counter() > deadline:
                raise RuntimeError(f"serve did not start:\n{log.read_text()[-2000:]}")
            await asyncio.sleep(0.02)
        startup = time.perf_counter() - started
        before = log.read_text(errors="replace").split(READY_LINE)[0]
        served = Served(users, process, urls, log, startup, before.count("\n") + 1)
        yield served
    finally:
        cronofy.release()  # the held syncs fail at once: serve stops without waiting
        await stop(process)


async def stop(process: asyncio.subprocess.Process) -> None:
    """Terminate ``serve`` (killed if not stopped within 30 s)."""
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        json.dump(spec, handle)
        handle.flush()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.loadgen",
            f"@{handle.name}",
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await process.communicate()
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def _rate(urls: Sequence[str], connections: int, seconds: float) -> dict[str, Any]:
    body, headers = _signed()
    spec = {
        "url": urls[0],
        "urls": list(urls),
        "body": body,
        "headers": headers,
        "mode": "rate",
        "connections": connections,
        "seconds": seconds,
    }
    executable = wrk.available() if os.environ.get("BENCH_LOADGEN") != "python" else None
    result = await (wrk.rate(spec, executable) if executable else _loadgen(spec))
    if set(result["statuses"]) != {"202"}:
        raise RuntimeError(f"serve answered {result['statuses']}")
    return result


async def warm_up(served: Served) -> None:
    """One change for every user (each key seen, each user's sync queued and held)."""
    body, headers = _signed()
    spec = {
        "url": served.urls[0],
        "urls": served.urls,
        "body": body,
        "headers": headers,
        "mode": "burst",
        "requests": max(len(served.urls), 200),
        "connections": CONNECTIONS,
    }
    result = await _loadgen(spec)
    if set(result["statuses"]) != {"202"}:
        raise RuntimeError(f"serve answered {result['statuses']} while warming up")
    served.warmup_rate = float(result["per_second"])


async def _measured(
    served: Served, idle: Served | None, run: Awaitable[dict[str, Any]]
) -> tuple[dict[str, Any], float]:
    """``run`` against ``served``: its result and ``served``'s CPU seconds meanwhile; the CPU
    ``idle`` (the other size) spent meanwhile is added to its background."""
    other = cpu_seconds(idle.pid) if idle is not None else 0.0
    started = time.perf_counter()
    cpu = cpu_seconds(served.pid)
    result = await run
    spent = cpu_seconds(served.pid) - cpu
    if idle is not None:
        idle.idle_cpu += cpu_seconds(idle.pid) - other
        idle.idle_seconds += time.perf_counter() - started
    return result, spent


async def measure_sequential(served: Served, urls: Sequence[str], idle: Served | None) -> None:
    """One connection posting back to back: the p50 of the ack latency."""
    result, _ = await _measured(served, idle, _rate(urls, 1, SEQUENTIAL_SECONDS))
    served.p50.append(float(result["p50"]))


async def measure_loaded(served: Served, urls: Sequence[str], idle: Served | None) -> None:
    """:data:`CONNECTIONS` connections: acks/s, and the CPU and acks of the run."""
    result, spent = await _measured(served, idle, _rate(urls, CONNECTIONS, LOAD_SECONDS))
    served.rate.append(float(result["per_second"]))
    served.cpu.append(spent)
    served.acks.append(int(result["completed"]))


async def measure_pair(first: Served, second: Served, rng: random.Random) -> None:
    """One round: the two sizes' sequential runs back to back, then their loaded runs back to
    back, in the same order; each size's URLs shuffled for the round."""
    urls = {}
    for served in (first, second):
        urls[served.users] = list(served.urls)
        rng.shuffle(urls[served.users])
    for served, other in ((first, second), (second, first)):
        await measure_sequential(served, urls[served.users], other)
    for served, other in ((first, second), (second, first)):
        await measure_loaded(served, urls[served.users], other)


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Comparison:
    """The two sizes, measured in paired rounds.

    The ratios are the medians of the per-round ratios (both sizes measured seconds apart,
    so what the machine did meanwhile weighs on both); CPU per ack is each size's CPU over
    all its loaded runs divided by all their acks. The per-size figures (:meth:`p50`,
    :meth:`rate`) are the medians of the size's rounds, for reading, not for the ratios."""

    one: Served
    many: Served
    generator: str

    def p50(self, served: Served) -> float:
        return _median(served.p50)

    def rate(self, served: Served) -> float:
        return _median(served.rate)

    def cpu(self, served: Served) -> float:
        """CPU seconds per ack over all the loaded runs."""
        return sum(served.cpu) / max(1, sum(served.acks))

    def idle_cpu(self, served: Served) -> float:
        """CPU seconds a second spent while the other size was measured."""
        return served.idle_cpu / served.idle_seconds if served.idle_seconds else float("nan")

    @property
    def rounds(self) -> int:
        return len(self.one.rate)

    @property
    def latency_ratios(self) -> list[float]:
        return [m / o for o, m in zip(self.one.p50, self.many.p50, strict=True)]

    @property
    def rate_ratios(self) -> list[float]:
        return [o / m for o, m in zip(self.one.rate, self.many.rate, strict=True)]

    @property
    def cpu_ratios(self) -> list[float]:
        return [m / o for o, m in zip(self.one.cpu_per_ack, self.many.cpu_per_ack, strict=True)]

    @property
    def latency_ratio(self) -> float:
        return _median(self.latency_ratios)

    @property
    def rate_ratio(self) -> float:
        return _median(self.rate_ratios)

    @property
    def cpu_ratio(self) -> float:
        return self.cpu(self.many) / self.cpu(self.one)


def spread(values: Sequence[float]) -> str:
    """``min-max`` of ratios."""
    return f"{min(values):.2f}-{max(values):.2f}" if values else "-"


async def compare(users: int = MANY, rounds: int = ROUNDS) -> Comparison:
    """``serve`` at 1 user and at ``users``, both measured in every round, which goes first
    alternating round by round."""
    rng = random.Random(24)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        async with (
            held_cronofy() as cronofy,
            serving(tmp, 1, cronofy) as one,
            serving(tmp, users, cronofy) as many,
        ):
            for served in (one, many):
                await warm_up(served)
            for number in range(rounds):
                await measure_pair(*((one, many) if number % 2 == 0 else (many, one)), rng)
            # Both at once: each takes seconds to stop (its held syncs retry the closed
            # Cronofy with backoff); one after the other, the stops added up.
            cronofy.release()
            await asyncio.gather(stop(one.process), stop(many.process))
    executable = wrk.available() if os.environ.get("BENCH_LOADGEN") != "python" else None
    return Comparison(one, many, "wrk" if executable else "python")


def describe(result: Comparison) -> str:
    rows = []
    for served in (result.one, result.many):
        rows.append(
            f"  {served.users:>6,} users: start-up {served.startup:5.2f} s "
            f"({served.start_lines} lines), "
            f"p50 {result.p50(served) * 1e3:6.3f} ms, {result.rate(served):7,.0f} acks/s, "
            f"{result.cpu(served) * 1e3:6.3f} ms CPU/ack, first ack of each user "
            f"{served.warmup_rate:7,.0f}/s; idle while the other ran "
            f"{result.idle_cpu(served) * 1e3:.1f} ms CPU/s"
        )
    return "\n".join(
        [
            f"serve itself ({result.generator}; {result.rounds} paired rounds, the sizes back to "
            "back, alternating which goes first; per size: medians, CPU/ack over all runs)",
            *rows,
            f"  ratio {result.many.users:,}/1: p50 {result.latency_ratio:.2f}x "
            f"({spread(result.latency_ratios)}), acks/s {result.rate_ratio:.2f}x "
            f"({spread(result.rate_ratios)}), CPU/ack {result.cpu_ratio:.2f}x "
            f"({spread(result.cpu_ratios)}) (goal <= 1.2x; median of the rounds' ratios, "
            "CPU/ack over all runs; in brackets the rounds' min-max)",
        ]
    )


async def _alone(users: int, profile: Path | None) -> None:
    rng = random.Random(24)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        async with held_cronofy() as cronofy, serving(tmp, users, cronofy, profile=profile) as s:
            print(f"{users:,} users: started in {s.startup:.2f} s ({s.start_lines} lines)")
            await warm_up(s)
            print(f"  warm-up (first ack of each user): {s.warmup_rate:,.0f}/s")
            for _ in range(ROUNDS):
                urls = list(s.urls)
                rng.shuffle(urls)
                await measure_sequential(s, urls, None)
                await measure_loaded(s, urls, None)
            print(
                f"  p50 {statistics.median(s.p50) * 1e3:.3f} ms, "
                f"{statistics.median(s.rate):,.0f} acks/s, "
                f"{sum(s.cpu) / max(1, sum(s.acks)) * 1e3:.3f} ms CPU/ack"
            )
            print(f"  {s.lines()} lines of output")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_serve")
    parser.add_argument("--users", type=int, default=None, help="one size alone")
    parser.add_argument("--profile", type=Path, default=None, help="cProfile output of serve")
    args = parser.parse_args()
    if args.users is None:
        print(describe(asyncio.run(compare())))
    else:
        asyncio.run(_alone(args.users, args.profile))


if __name__ == "__main__":
    main()
