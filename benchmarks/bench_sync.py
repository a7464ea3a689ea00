"""Sync cost against the emulator: API calls and time for N changed events.

Baseline: the same plan applied with single calls (one request per period) in the same run.
Measured: the batch runner (50 entries per call). API calls are counts; times are ratios.

Two columns for single calls: under the client's default app-wide limiter (50 requests/s, as
Cronofy enforces), which is what a real deployment pays, and with the limiter lifted, which
isolates the HTTP overhead per request.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from cronofy_avail.client.ratelimit import RateLimiter, RateWindow
from cronofy_avail.core.mapping import MappingPolicy
from cronofy_avail.core.planner import plan_changes
from cronofy_avail.emulator import Emulator
from cronofy_avail.runtime.sync import PlanRunner

SIZES = (10, 100, 400)


UNLIMITED = RateLimiter((RateWindow(1_000_000, 1.0),))


async def _apply(n: int, use_batch: bool, *, limited: bool = True) -> tuple[float, int]:
    async with Emulator(rate_limit_enabled=False) as emu:
        account = await emu.create_account()
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
        for i in range(n):
            s = start + timedelta(hours=i)
            emu.add_event(
                account.calendar_id,
                start=s.strftime("%Y-%m-%dT%H:%M:%SZ"),
                end=(s + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
        extra = {} if limited else {"rate_limiter": UNLIMITED}
        async with emu.client(account, **extra) as client:
            events = await client.read_events(tzid="UTC", calendar_ids=[account.calendar_id])
            plan = plan_changes(events, {}, MappingPolicy(), datetime.now(UTC))
            before = client.stats.requests
            t0 = time.perf_counter()
            result = await PlanRunner(client, use_batch=use_batch).apply(plan)
            elapsed = time.perf_counter() - t0
            assert result.complete
            assert len(result.applied) == n
            return elapsed, client.stats.requests - before


async def run() -> None:
    print("applying N new periods (emulator on 127.0.0.1, rate limit off)")
    head = ("N", "calls single", "calls batch", "single@50/s", "single free", "batch",
            "batch/single@50/s", "batch/single free")  # fmt: skip
    print("  " + " ".join(f"{h:>12s}" for h in head))
    for n in SIZES:
        limited_t, single_calls = await _apply(n, use_batch=False)
        free_t, _ = await _apply(n, use_batch=False, limited=False)
        batch_t, batch_calls = await _apply(n, use_batch=True)
        cells = (
            f"{n:12d}",
            f"{single_calls:12d}",
            f"{batch_calls:12d}",
            f"{limited_t * 1e3:9.1f} ms",
            f"{free_t * 1e3:9.1f} ms",
            f"{batch_t * 1e3:9.1f} ms",
            f"{batch_t / limited_t:11.3f}x",
            f"{batch_t / free_t:11.3f}x",
        )
        print("  " + " ".join(f"{c:>12s}" for c in cells))
