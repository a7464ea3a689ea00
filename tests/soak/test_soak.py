"""The short soak that runs with the suite (``make soak MINUTES=30`` for a long one)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from .soak import run_soak

pytestmark = pytest.mark.slow


async def test_soak_loses_nothing_and_touches_no_foreign_period(tmp_path: Path) -> None:
    minutes = float(os.environ.get("SOAK_MINUTES", "1.0"))
    seed = int(os.environ.get("SOAK_SEED", str(random.SystemRandom().randrange(1 << 30))))
    report = await run_soak(tmp_path, minutes, seed)
    print("\n".join(report.lines()))
    assert sum(report.edits.values()) > 0
    assert report.kills > 0
    assert report.mismatches_before == 0, report.lines()
    assert report.mismatches_after == 0, report.lines()
    assert report.foreign_touched == 0, report.lines()
    assert report.secrets_leaked == 0, report.lines()


async def test_cluster_soak_three_receivers_two_workers_one_postgresql(
    tmp_path: Path, pg_url: str
) -> None:
    from .cluster import run_cluster_soak

    minutes = float(os.environ.get("SOAK_MINUTES", "1.0"))
    seed = int(os.environ.get("SOAK_SEED", str(random.SystemRandom().randrange(1 << 30))))
    report = await run_cluster_soak(tmp_path, minutes, seed, pg_url)
    print("\n".join(report.lines()))
    base = report.base
    assert sum(base.edits.values()) > 0
    assert report.receiver_kills > 0
    assert report.worker_kills > 0
    assert report.sync_jobs > 0
    assert base.mismatches_before == 0, report.lines()
    assert base.mismatches_after == 0, report.lines()
    assert base.foreign_touched == 0, report.lines()
    assert base.secrets_leaked == 0, report.lines()
    assert report.overlapping_syncs == 0, report.lines()
    assert report.rate_rejected == 0, report.lines()
    assert report.max_per_second <= 50, report.lines()
    assert report.max_per_minute <= 500, report.lines()
