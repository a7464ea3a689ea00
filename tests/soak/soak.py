"""The soak: the emulator, ``cronofy-avail serve`` as a separate process on a SQLite file,
several users in different zones, random external edits, emulator faults, SIGKILLs of serve
(at random, and while a batch is in flight), CLI ``reconcile`` runs racing serve, and foreign
periods that must never be touched.

At the end every user's periods must equal the mapping of their events, before and after a
final reconcile, and no foreign period may have changed. Every output of every process is
scanned for the secrets in play.

``python -m tests.soak.soak --minutes 30`` (or ``make soak MINUTES=30``) runs a long one;
the test suite runs a short one (``SOAK_MINUTES``, default 1.0).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

import cronofy_avail
from cronofy_avail.app.admin_token import admin_token_path
from cronofy_avail.core.mapping import MappingPolicy
from cronofy_avail.core.models import utc_instant
from cronofy_avail.core.retry import RetryPolicy
from cronofy_avail.emulator import Emulator, EmulatorAccount
from cronofy_avail.runtime.store import SQLiteStore

CLIENT_SECRET = "SOAK-client-5ecret-7e1f0a9b3c"
ZONES = (
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Pacific/Kiritimati",
    "Asia/Kolkata",
)
PATIENT = RetryPolicy(max_attempts=20, max_elapsed=300.0, max_delay=20.0, max_retry_after=120.0)
# The ``cronofy-avail`` command, run by this interpreter on the code these tests import (not
# whatever copy the environment has installed: a git worktree runs its own).
SERVE = [sys.executable, "-c", "import sys; from cronofy_avail.cli import main; sys.exit(main())"]
SOURCE_ROOT = str(Path(cronofy_avail.__file__).resolve().parents[1])


@dataclass
class SoakUser:
    user_id: str
    tzid: str
    account: EmulatorAccount
    calendar_id: str = ""
    events: list[str] = field(default_factory=list)
    foreign: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)


@dataclass
class SoakReport:
    minutes: float
    seed: int
    users: int = 0
    edits: Counter[str] = field(default_factory=Counter)
    deliveries: int = 0
    failed_deliveries: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    kills: int = 0
    kills_in_flight: int = 0
    cli_reconciles: Counter[str] = field(default_factory=Counter)
    mismatches_before: int = 0
    mismatches_after: int = 0
    foreign_touched: int = 0
    secrets_leaked: int = 0
    details: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"soak: {self.minutes} min, seed {self.seed}, {self.users} users",
            f"edits: {sum(self.edits.values())} {dict(sorted(self.edits.items()))}",
            f"deliveries: {self.deliveries} ok, {self.failed_deliveries} failed attempts",
            f"faults: {sum(self.faults.values())} {dict(sorted(self.faults.items()))}",
            f"kills of serve: {self.kills} ({self.kills_in_flight} while a batch was in flight)",
            f"CLI reconciles racing serve: {dict(self.cli_reconciles)}",
            f"mismatches before the final reconcile: {self.mismatches_before}",
            f"mismatches after the final reconcile: {self.mismatches_after}",
            f"foreign periods touched: {self.foreign_touched}",
            f"secrets found in outputs: {self.secrets_leaked}",
            *self.details[:20],
        ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def next_transition(tzid: str, after: date, within: int = 180) -> date | None:
    """The first local date after ``after`` on which the zone's UTC offset changes."""
    zone = ZoneInfo(tzid)
    day = after
    for _ in range(within):
        a = datetime.combine(day, datetime.min.time(), tzinfo=zone).utcoffset()
        b = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone).utcoffset()
        if a != b:
            return day
        day += timedelta(days=1)
    return None


class Soak:
    def __init__(self, workdir: Path, minutes: float, seed: int) -> None:
        self.workdir = workdir
        self.minutes = minutes
        self.rng = random.Random(seed)
        self.report = SoakReport(minutes=minutes, seed=seed)
        self.db = workdir / "state.db"
        self.port = free_port()
        self.public = f"http://127.0.0.1:{self.port}"
        self.users: list[SoakUser] = []
        self.serve: asyncio.subprocess.Process | None = None
        self.serve_runs = 0
        self.outputs: list[Path] = []
        self.cli_tasks: list[asyncio.Task[None]] = []
        self.stored_secrets: set[str] = set()
        self.emu: Emulator

    # ------------------------------------------------------------------ environment

    def environ(self, user: SoakUser | None = None) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            "CRONOFY_CLIENT_ID": self.emu.client_id,
            "CRONOFY_CLIENT_SECRET": CLIENT_SECRET,
            "CRONOFY_API_BASE_URL": self.emu.base_url,
            "CRONOFY_AVAIL_DB": str(self.db),
            "PYTHONPATH": SOURCE_ROOT,
        }
        if user is not None:
            env["CRONOFY_AVAIL_USER"] = user.user_id
        return env

    async def cli(
        self, *argv: str, user: SoakUser | None = None, tokens: bool = False
    ) -> tuple[int, str]:
        env = self.environ(user)
        if tokens and user is not None:
            env["CRONOFY_ACCESS_TOKEN"] = user.account.access_token
            env["CRONOFY_REFRESH_TOKEN"] = user.account.refresh_token
        # A separate process, as a user runs it (and CLI runs never share logging state).
        out = self.workdir / f"cli-{len(self.outputs)}.log"
        self.outputs.append(out)
        with out.open("w") as handle:
            proc = await asyncio.create_subprocess_exec(
                *SERVE,
                argv[0],
                "--env-file",
                str(self.empty_env()),
                *argv[1:],
                env=env,
                cwd=self.workdir,
                stdout=handle,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
            )
            code = await proc.wait()
        return code, out.read_text()

    def empty_env(self) -> Path:
        """An empty ``.env``: the soak configures everything through the environment."""
        path = self.workdir / "empty.env"
        path.touch()
        return path

    async def start_serve(self) -> None:
        self.serve_runs += 1
        log = self.workdir / f"serve-{self.serve_runs}.log"
        self.outputs.append(log)
        handle = log.open("w")
        self.serve = await asyncio.create_subprocess_exec(
            *SERVE,
            "serve",
            "--env-file",
            str(self.empty_env()),
            "--port",
            str(self.port),
            "--public-url",
            self.public,
            env=self.environ(),
            cwd=self.workdir,
            stdout=handle,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )
        handle.close()
        async with aiohttp.ClientSession() as session, asyncio.timeout(60):
            while True:
                if self.serve.returncode is not None:
                    raise RuntimeError(f"serve exited: {log.read_text()}")
                try:
                    async with session.get(f"{self.public}/cronofy/health") as resp:
                        if resp.status == 200 and "Serving" in log.read_text():
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)

    async def kill_serve(self) -> None:
        assert self.serve is not None
        self.serve.send_signal(signal.SIGKILL)
        await self.serve.wait()
        self.report.kills += 1

    async def stop_serve(self) -> None:
        assert self.serve is not None
        self.serve.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            await self.serve.wait()

    # ------------------------------------------------------------------ setup

    async def setup(self) -> None:
        for i, tzid in enumerate(ZONES):
            account = await self.emu.create_account(tzid=tzid, email=f"user{i}@example.com")
            user = SoakUser(f"user{i}", tzid, account)
            code, text = await self.cli(
                "setup", "--public-url", self.public, user=user, tokens=True
            )
            if code != 0:
                raise RuntimeError(f"setup of {user.user_id} failed:\n{text}")
            store = await SQLiteStore.open(self.db)
            try:
                record = await store.get_user(user.user_id)
            finally:
                await store.close()
            assert record is not None
            assert record.calendar_id
            user.calendar_id = record.calendar_id
            async with self.emu.client(account) as client:
                for n in range(2):
                    start = self.future(3 + n, 10)
                    end = start + timedelta(hours=2)
                    pid = f"foreign-{user.user_id}-{n}"
                    await client.upsert_available_period(pid, start, end)
                    user.foreign[pid] = (start, end)
            self.users.append(user)
        self.report.users = len(self.users)

    def future(self, days: int, hour: int) -> datetime:
        base = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return base + timedelta(days=days, hours=hour)

    # ------------------------------------------------------------------ workload

    def edit(self) -> None:
        user = self.rng.choice(self.users)
        kinds = [
            "timed",
            "timed",
            "all_day",
            "recurring",
            "move",
            "move",
            "delete",
            "cancel",
            "long_uid",
            "unsafe_uid",
            "dst",
        ]
        kind = self.rng.choice(kinds)
        if kind in ("move", "delete", "cancel") and not user.events:
            kind = "timed"
        rng = self.rng
        if kind == "timed":
            start = self.future(rng.randint(1, 150), rng.randint(0, 22)) + timedelta(
                minutes=rng.choice([0, 15, 30, 45])
            )
            ev = self.emu.add_event(
                user.calendar_id,
                summary="Available",
                start=iso(start),
                end=iso(start + timedelta(minutes=rng.choice([30, 60, 90, 180]))),
            )
            user.events.append(ev["event_uid"])
        elif kind == "all_day":
            day = datetime.now(ZoneInfo(user.tzid)).date() + timedelta(days=rng.randint(2, 150))
            ev = self.emu.add_event(
                user.calendar_id,
                summary="Available all day",
                start=day.isoformat(),
                end=(day + timedelta(days=rng.randint(1, 3))).isoformat(),
            )
            user.events.append(ev["event_uid"])
        elif kind == "recurring":
            start = self.future(rng.randint(1, 60), rng.randint(6, 18))
            events = self.emu.add_events(
                user.calendar_id,
                {
                    "summary": "Office hours",
                    "start": iso(start),
                    "end": iso(start + timedelta(hours=1)),
                    "recurrence": {"frequency": "weekly", "count": rng.randint(2, 5)},
                },
            )
            user.events.extend(e["event_uid"] for e in events)
        elif kind == "move":
            uid = rng.choice(user.events)
            start = self.future(rng.randint(1, 150), rng.randint(0, 22))
            self.emu.update_event(uid, start=iso(start), end=iso(start + timedelta(hours=1)))
        elif kind == "delete":
            uid = user.events.pop(rng.randrange(len(user.events)))
            self.emu.delete_event(uid)
        elif kind == "cancel":
            uid = rng.choice(user.events)
            self.emu.update_event(uid, status="cancelled")
        elif kind in ("long_uid", "unsafe_uid"):
            tail = "".join(rng.choice("abcdef0123456789") for _ in range(12))
            uid = f"evt_external_{'9' * 150}{tail}" if kind == "long_uid" else f"odd uid/{tail}?&é"
            start = self.future(rng.randint(1, 150), rng.randint(0, 22))
            self.emu.add_event(
                user.calendar_id,
                summary="Available",
                event_uid=uid,
                start=iso(start),
                end=iso(start + timedelta(hours=1)),
            )
            user.events.append(uid)
        elif kind == "dst":
            today = datetime.now(ZoneInfo(user.tzid)).date()
            found = next_transition(user.tzid, today + timedelta(days=2))
            # A zone without DST: a late-evening event across midnight instead.
            day = found if found is not None else today + timedelta(days=rng.randint(2, 150))
            zone = ZoneInfo(user.tzid)
            start = datetime.combine(day, datetime.min.time(), tzinfo=zone) + timedelta(hours=22)
            ev = self.emu.add_event(
                user.calendar_id,
                summary="Across the change",
                start=iso(start),
                end=iso(start + timedelta(hours=rng.randint(3, 8))),
            )
            user.events.append(ev["event_uid"])
            if rng.random() < 0.5:
                ev = self.emu.add_event(
                    user.calendar_id,
                    summary="The change day",
                    start=day.isoformat(),
                    end=(day + timedelta(days=1)).isoformat(),
                )
                user.events.append(ev["event_uid"])
        self.report.edits[kind] += 1

    def fault(self) -> None:
        rng = self.rng
        kind = rng.choice(
            ["5xx", "429_retry_after", "429_bare", "drop", "latency", "expire_tokens"]
        )
        endpoint = rng.choice(
            ["GET /v1/events", "POST /v1/batch", "GET /v1/available_periods", "*"]
        )
        if kind == "5xx":
            self.emu.add_fault(
                endpoint=endpoint,
                error_count=rng.randint(1, 3),
                error_status=rng.choice([500, 502, 503]),
            )
        elif kind == "429_retry_after":
            self.emu.add_fault(endpoint=endpoint, rate_limit_count=rng.randint(1, 4), retry_after=1)
        elif kind == "429_bare":
            self.emu.add_fault(endpoint=endpoint, rate_limit_count=rng.randint(1, 4))
        elif kind == "drop":
            self.emu.add_fault(endpoint=endpoint, drop_count=rng.randint(1, 2))
        elif kind == "latency":
            rule = self.emu.add_fault(endpoint=endpoint, latency_ms=rng.randint(200, 1500))
            loop = asyncio.get_running_loop()
            loop.call_later(rng.uniform(1, 4), self.emu.faults.remove, rule.fault_id)
        elif kind == "expire_tokens":
            self.emu.expire_tokens(rng.choice(self.users).account.account_id)
        self.report.faults[kind] += 1

    async def kill_in_flight(self) -> None:
        """SIGKILL serve while a batch of writes is at the emulator (held by latency)."""
        rule = self.emu.add_fault(endpoint="POST /v1/batch", latency_ms=1500)
        before = rule.hits
        for _ in range(3):
            self.edit()
        try:
            for _ in range(750):  # until a batch is held at the emulator (bounded)
                if rule.hits != before:
                    await asyncio.sleep(self.rng.uniform(0.0, 1.0))  # within the 1.5 s hold
                    self.report.kills_in_flight += 1
                    break
                await asyncio.sleep(0.02)
        finally:
            self.emu.faults.remove(rule.fault_id)
        await self.kill_serve()
        await asyncio.sleep(self.rng.uniform(0.1, 1.5))
        await self.start_serve()

    def race_cli(self) -> None:
        user = self.rng.choice(self.users)

        async def run() -> None:
            code, text = await self.cli("reconcile", user=user)
            if "another process is syncing this user" in text:
                self.report.cli_reconciles["busy"] += 1
            elif code == 0:
                self.report.cli_reconciles["ran"] += 1
            else:
                self.report.cli_reconciles["failed"] += 1
                last = text.strip().splitlines()[-1:] or [""]
                self.report.details.append(f"  CLI reconcile {user.user_id} failed: {last[0]}")

        self.cli_tasks.append(asyncio.create_task(run()))

    async def workload(self) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + self.minutes * 60
        next_kill = loop.time() + self.rng.uniform(8, 20)
        while loop.time() < end:
            roll = self.rng.random()
            if roll < 0.75:
                for _ in range(self.rng.randint(1, 4)):
                    self.edit()
            elif roll < 0.88:
                self.fault()
            elif roll < 0.95:
                self.race_cli()
            if loop.time() >= next_kill:
                if self.rng.random() < 0.5:
                    await self.kill_in_flight()
                else:
                    await self.kill_serve()
                    await asyncio.sleep(self.rng.uniform(0.1, 2.0))
                    await self.start_serve()
                next_kill = loop.time() + self.rng.uniform(8, 20)
            await asyncio.sleep(self.rng.uniform(0.05, 0.4))

    # ------------------------------------------------------------------ checks

    async def quiesce(self) -> None:
        """No fault left; every notification delivered; every user idle with nothing pending."""
        self.emu.faults.clear()
        await asyncio.gather(*self.cli_tasks)
        # A graceful restart resumes whatever waits in a long retry delay at once.
        await self.stop_serve()
        await self.start_serve()
        token = admin_token_path(self.db).read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as session, asyncio.timeout(180):
            quiet = 0
            while quiet < 3:
                await self.emu.wait_notifications()
                async with session.get(f"{self.public}/cronofy/status", headers=headers) as resp:
                    status = await resp.json()
                settled = all(
                    u["state"] == "idle" and not u["pending_since"] and not u["pending_full"]
                    for u in status["users"]
                )
                quiet = quiet + 1 if settled else 0
                await asyncio.sleep(0.3)

    async def mismatches(self) -> int:
        total = touched = 0
        now = datetime.now(UTC)
        for user in self.users:
            policy = MappingPolicy(tzid=user.tzid)
            today = now.astimezone(ZoneInfo(user.tzid)).date()
            # The check honours Cronofy's app-wide rate limit like everyone else: it waits.
            async with self.emu.client(user.account, retry=PATIENT) as client:
                events = await client.read_events(
                    tzid=user.tzid,
                    from_=today - timedelta(days=1),
                    to=today + timedelta(days=202),
                    calendar_ids=[user.calendar_id],
                )
                periods = await client.list_available_periods(tzid=user.tzid)
            want: dict[str, tuple[datetime, datetime]] = {}
            for event in events:
                decision = policy.decide(event, now)
                if decision.period is not None:
                    want[decision.period.period_id] = (decision.period.start, decision.period.end)
            have = {
                p.available_period_id: (utc_instant(p.start), utc_instant(p.end))
                for p in periods
                if p.available_period_id not in user.foreign
            }
            for pid in set(want) | set(have):
                if want.get(pid) != have.get(pid):
                    total += 1
                    self.report.details.append(
                        f"  {user.user_id} {pid[:40]}: want {want.get(pid)}, have {have.get(pid)}"
                    )
            foreign_now = {
                p.available_period_id: (utc_instant(p.start), utc_instant(p.end))
                for p in periods
                if p.available_period_id in user.foreign
            }
            touched += sum(
                1 for pid, times in user.foreign.items() if foreign_now.get(pid) != times
            )
        self.report.foreign_touched = touched
        return total

    def scan_outputs(self) -> None:
        secrets = {CLIENT_SECRET}
        for user in self.users:
            secrets.update({user.account.access_token, user.account.refresh_token})
        token_file = admin_token_path(self.db)
        if token_file.exists():
            secrets.add(token_file.read_text().strip())
        secrets |= self.stored_secrets
        for path in self.outputs:
            text = path.read_text(errors="replace")
            for secret in secrets:
                if secret and secret in text:
                    self.report.secrets_leaked += 1
                    self.report.details.append(f"  secret {secret[:4]}… in {path.name}")

    async def collect_stored_secrets(self) -> None:
        store = await SQLiteStore.open(self.db)
        try:
            found: set[str] = set()
            for user in await store.list_users():
                found.add(user.callback_key)
                if user.credentials is not None:
                    found.add(user.credentials.access_token)
                    if user.credentials.refresh_token:
                        found.add(user.credentials.refresh_token)
            self.stored_secrets = found
        finally:
            await store.close()

    def count_deliveries(self) -> None:
        for account in self.emu.state.accounts.values():
            for channel in account.channels.values():
                for delivery in channel.deliveries:
                    if delivery.ok:
                        self.report.deliveries += 1
                    else:
                        self.report.failed_deliveries += 1

    # ------------------------------------------------------------------ run

    async def run(self) -> SoakReport:
        settings: dict[str, Any] = {
            "client_secret": CLIENT_SECRET,
            "debounce": 0.2,
            "retry_initial_delay": 0.2,
            "retry_max_delay": 2.0,
        }
        async with Emulator(**settings) as emu:
            self.emu = emu
            await self.setup()
            await self.start_serve()
            try:
                await self.workload()
                await self.quiesce()
                self.report.mismatches_before = await self.mismatches()
                for user in self.users:
                    code, text = await self.cli("reconcile", user=user)
                    if code != 0:
                        self.report.details.append(f"  final reconcile {user.user_id}: {text}")
                self.report.mismatches_after = await self.mismatches()
                self.count_deliveries()
            finally:
                if self.serve is not None and self.serve.returncode is None:
                    await self.stop_serve()
            await self.collect_stored_secrets()
            self.scan_outputs()
        return self.report


async def run_soak(workdir: Path, minutes: float, seed: int) -> SoakReport:
    return await Soak(workdir, minutes, seed).run()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=random.SystemRandom().randrange(1 << 30))
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cronofy-soak-") as tmp:
        report = asyncio.run(run_soak(args.workdir or Path(tmp), args.minutes, args.seed))
    print("\n".join(report.lines()))
    ok = (
        report.mismatches_before == 0
        and report.mismatches_after == 0
        and report.foreign_touched == 0
        and report.secrets_leaked == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
