"""A workshop on one laptop: thirty attendees run notebook 01's flow at once against one
``cronofy-avail workshop`` emulator, each with their receiver behind the relay.

The emulator runs in its own process (as on the instructor's laptop), so its CPU time is read
from ``/proc`` apart from the attendees'. Latency is measured by the attendees' HTTP clients
(every Cronofy API call, relay polls excluded), so it includes their own event loop's delays.
Baseline: one attendee at a time (ten in a row), in the same run. Reported as ratios to it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp

from cronofy_avail.workshop import WorkshopAttendee

ATTENDEES = 30
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def _tomorrow(hour: int) -> datetime:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    return start.replace(hour=hour)


def _tracer(latencies: list[float]) -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()

    async def start(_: Any, ctx: SimpleNamespace, params: Any) -> None:
        ctx.start = time.perf_counter()
        ctx.timed = "/_emulator/relay" not in str(params.url)

    async def end(_: Any, ctx: SimpleNamespace, params: Any) -> None:
        if ctx.timed:
            latencies.append(time.perf_counter() - ctx.start)

    trace.on_request_start.append(start)
    trace.on_request_end.append(end)
    return trace


async def _attendee(url: str, name: str, latencies: list[float]) -> int:
    attendee = await WorkshopAttendee.join(url, name, trace_configs=[_tracer(latencies)])
    async with attendee:
        await attendee.onboard()
        morning = await attendee.add_availability(_tomorrow(9), _tomorrow(12))
        later = await attendee.add_availability(_tomorrow(14), _tomorrow(15))
        gone = await attendee.add_availability(_tomorrow(16), _tomorrow(17))
        await attendee.move(later, _tomorrow(15), _tomorrow(16))
        await attendee.delete(gone)
        await attendee.wait_in_sync({morning, later}, within=120)
        answer = await attendee.query(_tomorrow(0), _tomorrow(0) + timedelta(days=1))
        return len(answer.results)


@dataclass
class Run:
    attendees: int
    wall: float
    cpu: float
    requests: int
    p50: float
    p99: float
    finished: int


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _run(n: int, *, rounds: int = 1) -> Run:
    """``rounds`` times, ``n`` attendees at once, against one fresh workshop emulator."""
    script = Path(sys.executable).parent / "cronofy-avail"
    args = ["workshop", "--host", "127.0.0.1", "--port", "0", "--json", "--debounce", "0.2"]
    process = await asyncio.create_subprocess_exec(
        str(script), *args, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        info = json.loads(await process.stdout.readline())
        url = info["attendee_url"]
        latencies: list[float] = []
        cpu_before = _cpu_seconds(process.pid)
        start = time.perf_counter()
        slots: list[Any] = []
        for round_ in range(rounds):
            slots += await asyncio.gather(
                *(_attendee(url, f"attendee {round_}.{i}", latencies) for i in range(n)),
                return_exceptions=True,
            )
        wall = time.perf_counter() - start
        cpu = _cpu_seconds(process.pid) - cpu_before
        async with (
            aiohttp.ClientSession() as session,
            session.get(info["instructor_url"] + "/status") as response,
        ):
            status = await response.json()
        finished = sum(1 for s in slots if isinstance(s, int) and s > 0)
        assert status["in_sync"] == finished
        return Run(
            n * rounds,
            wall,
            cpu,
            sum(a["api_calls"] for a in status["attendees"]),
            _percentile(latencies, 0.5),
            _percentile(latencies, 0.99),
            finished,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()


async def run() -> None:
    base = await _run(1, rounds=10)  # one attendee at a time, ten times (CPU ticks are 10 ms)
    full = await _run(ATTENDEES)
    print(f"Workshop: {ATTENDEES} attendees at once vs one at a time (emulator in its own process)")
    print(
        f"{'attendees':>9} {'finished':>8} {'wall s':>7} {'emu CPU s':>9} {'API calls':>9} "
        f"{'CPU ms/call':>11} {'p50 ms':>7} {'p99 ms':>7}"
    )
    for r in (base, full):
        print(
            f"{r.attendees:>9} {r.finished:>8} {r.wall:>7.2f} {r.cpu:>9.2f} {r.requests:>9} "
            f"{1000 * r.cpu / max(r.requests, 1):>11.2f} {1000 * r.p50:>7.1f} {1000 * r.p99:>7.1f}"
        )
    per_attendee = (full.cpu / full.attendees) / max(base.cpu / base.attendees, 1e-9)
    print(
        f"ratios to one attendee: emulator CPU per attendee x{per_attendee:.2f}, "
        f"p50 x{full.p50 / base.p50:.1f}, p99 x{full.p99 / base.p99:.1f}"
    )


if __name__ == "__main__":
    asyncio.run(run())
