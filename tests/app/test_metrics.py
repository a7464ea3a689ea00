"""``/metrics``, the operator's view, scraped from the real commands: ``serve`` (SQLite) and a
cluster's ``serve`` and ``worker`` (the throwaway PostgreSQL), each started as a user starts it
(a child process, a clean ``HOME``, exported variables only), parsed with Prometheus' own text
parser. Counters must move as deliveries and syncs happen, refusals must be counted by reason,
the view must be refused exactly as ``/status`` is, and no label may carry a user or a secret.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cronofy_avail.app.settings import Settings
from cronofy_avail.app.system import open_system
from cronofy_avail.core.signatures import SIGNATURE_HEADER, sign
from cronofy_avail.emulator import Emulator
from cronofy_avail.runtime.cluster import ClusterStore
from cronofy_avail.runtime.metrics import (
    NOTIFICATION_TYPES,
    REFUSAL_REASONS,
    SYNC_OUTCOMES,
    PendingSource,
    ProcessMetrics,
)
from cronofy_avail.runtime.store import MemoryStore, SQLiteStore, Store, UserRecord
from tests.support.clock import iso
from tests.support.commands import CLIENT_SECRET, at, closed_port, emulator, export_account
from tests.support.dev_run import DevRun, start_command
from tests.support.user_cli import UserShell, shell
from tests.support.wait import until

__all__ = ["emulator", "shell"]  # fixtures used by name

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

ALLOWED_LABELS = {
    "outcome": {"accepted", "other", *REFUSAL_REASONS, *SYNC_OUTCOMES},
    "reason": set(REFUSAL_REASONS),
    "type": {*NOTIFICATION_TYPES, "other"},
    "kind": {"full", "incremental", "other"},
    "le": None,  # histogram bounds: numbers
}

HOSTILE = [
    ({}, "no token"),
    ({"Authorization": "Bearer wrong"}, "a wrong token"),
    ({"Host": "evil.example"}, "an unknown Host"),
    ({"Origin": "http://evil.example"}, "a cross-site Origin"),
    ({"Sec-Fetch-Site": "cross-site"}, "a cross-site fetch"),
]
"""Requests ``/status`` refuses; with the admin token unless the case is about it."""


async def exported_for(emu: Emulator, shell: UserShell) -> None:
    await export_account(emu, shell, "ops@example.com")


@contextlib.asynccontextmanager
async def running(shell: UserShell, *argv: str, ready: str, **extra: str) -> AsyncIterator[DevRun]:
    """``cronofy-avail ARGV`` until the test is done; stopped with Ctrl-C (exit 0)."""
    run = await start_command(shell, *argv, **extra)
    try:
        await run.wait_for(ready)
        yield run
    finally:
        code = await run.stop()
    assert code == 0, run.text
    assert "Traceback" not in run.text, run.text


def admin_token(shell: UserShell) -> str:
    (path,) = shell.home.rglob("*.admin-token")
    return path.read_text().strip()


async def get(url: str, headers: dict[str, str]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        return resp.status, await resp.text()


async def scrape(url: str, token: str) -> tuple[str, Samples]:
    status, text = await get(url, {"Authorization": f"Bearer {token}"})
    assert status == 200, text
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get(("cronofy_avail_" + name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every sample of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == "cronofy_avail_" + name and wanted <= ls)


def assert_bounded(samples: Samples, text: str, secrets: Iterable[str]) -> None:
    """Every label is one of the fixed set; no user id, key, token, secret or URL anywhere."""
    for name, labels in samples:
        assert name.startswith("cronofy_avail_"), name
        for key, label in labels:
            allowed = ALLOWED_LABELS[key]
            if allowed is None:
                assert label == "+Inf" or float(label) > 0, (name, label)
            else:
                assert label in allowed, (name, key, label)
    for secret in secrets:
        assert secret not in text


async def refusals_match_status(base: str, token: str, *, has_status: bool) -> None:
    """``/metrics`` refuses each hostile request (as ``/status`` does, when there is one)."""
    for headers, case in HOSTILE:
        sent = {} if case == "no token" else {"Authorization": f"Bearer {token}", **headers}
        metrics_code, text = await get(f"{base}/metrics", sent)
        assert metrics_code == 403, case
        assert "cronofy_avail_" not in text, case
        if has_status:
            status_code, _ = await get(f"{base}/cronofy/status", sent)
            assert status_code == 403, case


async def stored_user(db: Path) -> UserRecord:
    store = await SQLiteStore.open(db)
    try:
        user = await store.get_user("default")
    finally:
        await store.close()
    assert user is not None
    assert user.calendar_id is not None
    return user


async def test_serve_counts_deliveries_refusals_and_syncs(
    emulator: Emulator, shell: UserShell
) -> None:
    await exported_for(emulator, shell)
    port = closed_port()
    public = f"http://127.0.0.1:{port}"
    code, text = await shell.run("setup", "--public-url", public)
    assert code == 0, text
    serve = ("serve", "--port", str(port), "--public-url", public)
    async with running(shell, *serve, ready=r"^Serving; Ctrl-C stops\.$") as served:
        assert "(for /status, /metrics, /deliveries, replay)" in served.text
        token = admin_token(shell)
        url = f"{public}/metrics"
        user = await stored_user(shell.home / ".cronofy_avail" / "state.db")
        assert user.calendar_id is not None
        _, before = await scrape(url, token)
        assert value(before, "pending_intents") >= 0
        assert ("cronofy_avail_queue_jobs", frozenset()) not in before  # no queue: SQLite

        # A genuine notification: the user adds availability at the emulator; the sync's
        # first read is answered 429 once (and retried).
        emulator.add_fault(endpoint="GET /v1/events", rate_limit_count=1, retry_after=0.0)
        mark = len(served.lines)
        emulator.add_event(
            user.calendar_id, start=iso(at(1, 9)), end=iso(at(1, 10)), summary="Available"
        )
        await served.wait_for(r"^delivery \d+: change for default, signature ok", start=mark)
        await served.wait_for(r"^sync default: ", start=mark)

        async def moved() -> bool:
            _, now = await scrape(url, token)
            return (
                value(now, "webhook_deliveries_total", outcome="accepted")
                >= value(before, "webhook_deliveries_total", outcome="accepted") + 1
                and value(now, "webhook_accepted_total", type="change")
                >= value(before, "webhook_accepted_total", type="change") + 1
                and total(now, "syncs_total", outcome="ok")
                >= total(before, "syncs_total", outcome="ok") + 1
                and value(now, "sync_duration_seconds_count")
                >= value(before, "sync_duration_seconds_count") + 1
                and value(now, "cronofy_requests_total") > value(before, "cronofy_requests_total")
            )

        await until(moved, what="the delivery and the sync counted")

        # Forged deliveries: a known key with another secret's signature, an unknown key.
        _, mid = await scrape(url, token)
        forged = b'{"notification": {"type": "change"}}'
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{public}/cronofy/notifications/{user.callback_key}",
                data=forged,
                headers={SIGNATURE_HEADER: sign(forged, "not-the-secret")},
            ) as resp:
                assert resp.status == 401
            async with session.post(
                f"{public}/cronofy/notifications/no-such-key",
                data=forged,
                headers={SIGNATURE_HEADER: sign(forged, CLIENT_SECRET)},
            ) as resp:
                assert resp.status == 404
        text, after = await scrape(url, token)
        for reason in ("signature_mismatch", "unknown_key"):
            assert (
                value(after, "webhook_deliveries_total", outcome=reason)
                == value(mid, "webhook_deliveries_total", outcome=reason) + 1
            ), reason
        assert value(after, "webhook_deliveries_total", outcome="accepted") == value(
            mid, "webhook_deliveries_total", outcome="accepted"
        )
        assert value(after, "pending_intents") == 0
        assert value(after, "oldest_pending_intent_age_seconds") == 0
        assert "# TYPE cronofy_avail_sync_duration_seconds histogram" in text

        secrets = [
            token,
            user.callback_key,
            user.user_id,
            CLIENT_SECRET,
            shell.exported["CRONOFY_ACCESS_TOKEN"],
            shell.exported["CRONOFY_REFRESH_TOKEN"],
            emulator.base_url,
            user.calendar_id,
        ]
        assert_bounded(after, text, [s for s in secrets if s != "default"])
        assert '"default"' not in text  # the user id as a label value

        await refusals_match_status(public, token, has_status=True)


async def test_a_receiver_without_a_token_answers_only_direct_loopback() -> None:
    """Built by the composition root (as ``dev``, the wizard and the playground build theirs):
    ``/metrics`` is there, and guarded as ``/status``, without any command wiring it."""
    settings = Settings(client_id="cid", client_secret="metrics-test-secret-0123456789")
    async with open_system(settings, store=MemoryStore()) as system:
        coordinator = await system.coordinator(start=False)
        server = await system.receiver(coordinator, runs_requests=True)
        assert system.metrics_url is not None
        assert server.url is not None
        status, text = await get(system.metrics_url, {})
        assert status == 200, text
        assert "cronofy_avail_webhook_deliveries_total" in text
        assert "cronofy_avail_syncs_total" in text
        for forwarded in ({"X-Forwarded-For": "203.0.113.7"}, {"Forwarded": "for=203.0.113.7"}):
            metrics_code, _ = await get(system.metrics_url, forwarded)
            status_code, _ = await get(f"{server.url}/status", forwarded)
            assert metrics_code == status_code == 403


async def test_a_workers_metrics_count_its_syncs_and_the_queue(
    emulator: Emulator, shell: UserShell, pg_url: str
) -> None:
    await exported_for(emulator, shell)
    shell.exported["CRONOFY_AVAIL_DB"] = pg_url
    port = closed_port()
    public = f"http://127.0.0.1:{port}"
    code, text = await shell.run("setup", "--public-url", public)
    assert code == 0, text
    serve = ("serve", "--port", str(port), "--public-url", public)
    async with (
        running(shell, *serve, ready=r"^Serving; Ctrl-C stops\.$") as served,
        running(
            shell, "worker", "--metrics-port", "0", ready=r"^Metrics on http://127\.0\.0\.1:"
        ) as worker,
    ):
        token = admin_token(shell)
        line = await worker.wait_for(r"^Metrics on ")
        url = line.split()[2]
        assert url.startswith("http://127.0.0.1:"), line
        assert url.endswith("/metrics"), line

        # The receiver's view in a cluster: the queue, no syncs (workers run them).
        _, receiver = await scrape(f"{public}/metrics", token)
        assert ("cronofy_avail_queue_jobs", frozenset()) in receiver
        assert total(receiver, "syncs_total") == 0

        _, before = await scrape(url, token)
        assert ("cronofy_avail_queue_jobs", frozenset()) in before
        assert ("cronofy_avail_pending_intents", frozenset()) in before
        assert total(before, "webhook_deliveries_total") == 0  # a worker receives nothing

        store = await ClusterStore.open_cluster(pg_url)
        try:
            store_user = await store.get_user("default")
        finally:
            await store.close()
        assert store_user is not None
        assert store_user.calendar_id is not None
        mark = len(served.lines)
        emulator.add_event(
            store_user.calendar_id, start=iso(at(1, 9)), end=iso(at(1, 10)), summary="Available"
        )
        await served.wait_for(r"^delivery \d+: change for default, signature ok", start=mark)

        async def synced() -> bool:
            _, now = await scrape(url, token)
            return (
                total(now, "syncs_total", outcome="ok")
                >= total(before, "syncs_total", outcome="ok") + 1
                and value(now, "cronofy_requests_total") > value(before, "cronofy_requests_total")
                and value(now, "pending_intents") == 0
                and value(now, "queue_jobs") == 0
            )

        await until(synced, within=30.0, what="the worker's sync counted")
        text, after = await scrape(url, token)
        assert value(after, "sync_duration_seconds_count") >= 1
        assert_bounded(
            after,
            text,
            [token, store_user.callback_key, CLIENT_SECRET, pg_url, emulator.base_url],
        )
        assert '"default"' not in text
        await refusals_match_status(url.removesuffix("/metrics"), token, has_status=False)


T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("backend", ["memory", "sqlite", "cluster"])
async def test_pending_intents_and_the_oldest_are_read_from_the_store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store: Store
    if backend == "memory":
        store = MemoryStore()
    elif backend == "sqlite":
        store = await SQLiteStore.open(tmp_path / "state.db")
    else:
        store = await ClusterStore.open_cluster(request.getfixturevalue("pg_url"))
    try:
        assert isinstance(store, PendingSource)
        assert await store.pending_intents() == (0, None)
        for n in (1, 2, 3):
            await store.save_user(
                UserRecord(user_id=f"u{n}", callback_key=f"key-{n}", calendar_id="cal_sub")
            )
        await store.record_intent("u1", changes_since=T0, received_at=T0 + timedelta(hours=1))
        await store.record_intent("u2", changes_since=None, full=True, received_at=T0)
        assert await store.pending_intents() == (2, T0)

        metrics = ProcessMetrics(clock=lambda: T0 + timedelta(hours=2), pending=store)
        if isinstance(store, ClusterStore):
            metrics.queue_depth = store.queue_depth
        samples = {
            s.name: s.value
            for family in text_string_to_metric_families(await metrics.render())
            for s in family.samples
        }
        assert samples["cronofy_avail_pending_intents"] == 2
        assert samples["cronofy_avail_oldest_pending_intent_age_seconds"] == 7200
        if isinstance(store, ClusterStore):
            assert samples["cronofy_avail_queue_jobs"] == 2  # one sync job per user
    finally:
        await store.close()
