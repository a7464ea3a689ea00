"""``cronofy-avail demo``: the four steps end to end against the embedded emulator.

Runs on a fresh machine with no account and no network: the emulator and the webhook server
start on free loopback ports in this process, and the demo plays the user. What it prints is
meant for a person at a terminal (headed steps, aligned tables, times in the user's zone);
``--json`` adds one JSON object as the last line for scripts and tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from cronofy_avail.app.explain import explain
from cronofy_avail.cli.inputs import tzid_arg
from cronofy_avail.cli.live import announce_deliveries, report_syncs
from cronofy_avail.core.errors import CronofyError
from cronofy_avail.core.mapping import MappingPolicy
from cronofy_avail.core.models import AvailabilityResponse, utc_instant
from cronofy_avail.core.week import bars_from, render_week, span_title
from cronofy_avail.playground import Playground
from cronofy_avail.runtime.steps import busy_calendar_ids, query_availability, query_start
from cronofy_avail.runtime.sync import SyncResult

DEMO_TZID = "Europe/London"


@dataclass
class DemoReport:
    """What the demo did; the ``--json`` line."""

    ok: bool = False
    periods_expected: int = 0
    periods_in_sync: int = 0
    periods_extra: int = 0
    notifications: int = 0
    notifications_by_type: dict[str, int] = field(default_factory=dict)
    api_calls: int = 0
    """Cronofy API requests as the emulator counted them."""
    client_api_calls: int = 0
    """The same, counted on our side: the demo's own client plus every sync's client."""
    syncs: int = 0
    managed_slots: int = 0
    unmanaged_slots: int = 0
    error: str | None = None


class Printer:
    def __init__(self, out: TextIO, tzid: str) -> None:
        self.out = out
        self.zone = ZoneInfo(tzid)

    def line(self, text: str = "") -> None:
        print(text, file=self.out)

    def step(self, title: str) -> None:
        self.line()
        self.line(f"== {title} ==")

    def when(self, value: datetime) -> str:
        return value.astimezone(self.zone).strftime("%a %d %b %H:%M")

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]], indent: int = 2) -> None:
        if not rows:
            self.line(" " * indent + "(none)")
            return
        widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
        pad = " " * indent
        self.line(
            (pad + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))).rstrip()
        )
        self.line(pad + "  ".join("-" * w for w in widths))
        for row in rows:
            cells = "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
            self.line(pad + cells.rstrip())


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Demo:
    def __init__(self, pg: Playground, out: Printer) -> None:
        self.pg = pg
        self.p = out
        self.results: list[SyncResult] = []
        self.sync_api_calls = 0
        self.seen_delivery = 0
        pg.coordinator.add_listener(self._on_sync)

    def _on_sync(self, user_id: str, result: SyncResult) -> None:
        self.results.append(result)
        self.sync_api_calls += result.api_calls

    async def show_deliveries(self) -> None:
        deliveries = [
            d
            for d in reversed(await self.pg.store.list_deliveries())
            if (d.delivery_id or 0) > self.seen_delivery
        ]
        for d in deliveries:
            self.seen_delivery = max(self.seen_delivery, d.delivery_id or 0)
            body = json.loads(d.body)
            since = body.get("notification", {}).get("changes_since")
            signature = next(
                (v for k, v in d.headers.items() if k.lower().startswith("cronofy")), ""
            )
            verified = "verified" if d.verified else "NOT verified"
            extra = f", changes_since {since}" if since else ""
            self.p.line(f"   notification: {d.notification_type}{extra}")
            self.p.line(f"     signed {signature} -> {verified}, answered 202, outcome {d.outcome}")

    async def show_syncs(self) -> None:
        results, self.results = self.results, []
        for r in results:
            self.p.line(
                f"   sync ({r.kind}): {r.events_read} event(s) read, {r.upserts} upsert(s), "
                f"{r.deletes} delete(s), {r.api_calls} API call(s)"
            )
            if r.plan is not None and r.plan.writes:
                rows = r.plan.explain(self.p.zone).splitlines()
                header, actions = rows[0], rows[1:]
                self.p.line("     plan: " + header)
                for row in actions:
                    if not row.startswith("skip"):
                        self.p.line("           " + row)
                skipped = len(r.plan.skips)
                if skipped:
                    self.p.line(
                        f"           ({skipped} event(s) read again and unchanged: skipped)"
                    )

    async def act(self, description: str, action: Any) -> Any:
        self.p.line()
        self.p.line(f" - the user {description}")
        value = action()
        await self.pg.settle()
        await self.show_deliveries()
        await self.show_syncs()
        return value

    async def show_periods(self) -> None:
        periods = sorted(
            (utc_instant(x.start), utc_instant(x.end), x.available_period_id)
            for x in await self.pg.periods()
        )
        self.p.line()
        self.p.line(f"  Available Periods now in Cronofy ({self.pg.tzid}):")
        self.p.table(
            ["period_id", "start", "end"],
            [[pid, self.p.when(start), self.p.when(end)] for start, end, pid in periods],
            indent=4,
        )


async def _expected_periods(pg: Playground, now: datetime) -> dict[str, tuple[datetime, datetime]]:
    """What should exist, from the sub calendar's events and the mapping policy alone."""
    policy = MappingPolicy(tzid=pg.tzid)
    events = await pg.client.read_events(
        tzid=pg.tzid,
        from_=(now - timedelta(days=1)).date(),
        to=(now + timedelta(days=60)).date(),
        calendar_ids=[pg.calendar_id],
    )
    expected: dict[str, tuple[datetime, datetime]] = {}
    for event in events:
        period = policy.decide(event, now).period
        if period is not None:
            expected[period.period_id] = (period.start, period.end)
    return expected


def _slots(response: AvailabilityResponse) -> list[tuple[datetime, datetime]]:
    return [(utc_instant(r.start), utc_instant(r.end)) for r in response.results]


async def run_demo(
    out: TextIO | None = None,
    *,
    keep_running: bool = False,
    tzid: str = DEMO_TZID,
    stop: asyncio.Event | None = None,
    svg: Path | None = None,
) -> DemoReport:
    """Run the demo, printing to ``out``. With ``keep_running`` it then waits for Ctrl-C,
    SIGTERM or ``stop`` before cleaning up."""
    report = DemoReport()
    p = Printer(out if out is not None else sys.stdout, tzid)
    async with Playground.running(tzid=tzid, onboard=False) as pg:
        demo = Demo(pg, p)
        p.line("cronofy_avail demo: Available Periods controlled by a sub calendar")
        p.line(f"  Cronofy emulator  {pg.emulator.base_url}  (embedded, offline)")
        p.line(f"  webhook server    {pg.webhook_url}")
        p.line(f"  user              {pg.account.email}, time zone {tzid}")

        # ---- step 1
        p.step('Step 1: create the "Availability" sub calendar in the user\'s profile')
        profiles = await pg.client.list_profiles()
        p.table(
            ["provider", "profile_id", "profile", "connected"],
            [
                [
                    x.provider_name,
                    x.profile_id,
                    x.profile_name,
                    "yes" if x.profile_connected else "no",
                ]
                for x in profiles
            ],
        )
        user = await pg.onboard(reconcile=False)
        p.line(f'  calendar "Availability" is {user.calendar_id} in profile {user.profile_id}')

        # ---- step 2
        p.step("Step 2: create a push channel filtered to the sub calendar")
        p.line(f"  channel {pg.channel_id}")
        shown = (user.callback_url or "").replace(user.callback_key, user.callback_key[:4] + "…")
        p.line(f"    callback  {shown}")
        p.line(f"    filter    calendar_ids = [{pg.calendar_id}]")
        pg.coordinator.request(pg.user_id, full=True)
        await pg.settle()
        await demo.show_deliveries()
        p.line("  a new channel may have missed changes, so the first sync is a full reconcile:")
        await demo.show_syncs()

        # ---- step 3
        p.step("Step 3: the user edits their Availability calendar; each change is synced")
        now = datetime.now(UTC)
        local = datetime.now(ZoneInfo(tzid)).replace(hour=0, minute=0, second=0, microsecond=0)
        day = timedelta(days=1)
        cal = pg.calendar_id
        emu = pg.emulator

        timed = await demo.act(
            "adds a timed slot tomorrow 09:00-12:00",
            lambda: emu.add_event(
                cal,
                summary="Open for calls",
                start=_iso(local + day + timedelta(hours=9)),
                end=_iso(local + day + timedelta(hours=12)),
            ),
        )
        all_day_date = (local + 2 * day).date()
        await demo.act(
            f"adds an all-day slot on {all_day_date:%a %d %b}",
            lambda: emu.add_event(
                cal,
                summary="Whole day free",
                start=all_day_date.isoformat(),
                end=(all_day_date + timedelta(days=1)).isoformat(),
            ),
        )
        series = await demo.act(
            "adds a recurring slot, daily 14:00-16:00 for three days from the day after",
            lambda: emu.add_events(
                cal,
                {
                    "summary": "Office hours",
                    "start": _iso(local + 3 * day + timedelta(hours=14)),
                    "end": _iso(local + 3 * day + timedelta(hours=16)),
                    "recurrence": {"frequency": "daily", "count": 3},
                },
            ),
        )
        await demo.act(
            "moves tomorrow's slot one hour later (10:00-13:00)",
            lambda: emu.update_event(
                timed["event_uid"],
                start=_iso(local + day + timedelta(hours=10)),
                end=_iso(local + day + timedelta(hours=13)),
            ),
        )
        await demo.act(
            "deletes the middle office-hours occurrence",
            lambda: emu.delete_event(series[1]["event_uid"]),
        )
        await demo.show_periods()

        # ---- step 4
        p.step("Step 4: availability query with managed availability")
        primary = pg.account.calendar_id
        emu.add_event(
            primary,
            summary="Busy: team meeting",
            start=_iso(local + day + timedelta(hours=11)),
            end=_iso(local + day + timedelta(hours=12)),
        )
        await pg.settle()
        consulted = await busy_calendar_ids(pg.client, pg.calendar_id)
        p.line(f"  busy time from: {', '.join(consulted)}  (a meeting tomorrow 11:00-12:00)")
        p.line("  the Availability calendar is NOT consulted: its own events would count as busy")
        p.line("  time and cancel the very periods made from them (the busy-calendar trap)")
        start = query_start(datetime.now(UTC))
        window = (start, start + 6 * day)
        user = await pg.user()
        assert user.sub is not None
        m_slots, u_slots = [
            _slots(
                await query_availability(
                    pg.client,
                    sub=user.sub,
                    sub_calendar_id=cal,
                    start=window[0],
                    end=window[1],
                    minutes=60,
                    managed=managed,
                    calendar_ids=consulted,
                )
            )
            for managed in (True, False)
        ]
        report.managed_slots, report.unmanaged_slots = len(m_slots), len(u_slots)
        p.line(f"  query: 60-minute slots, {p.when(window[0])} to {p.when(window[1])}")
        p.line(f"  with managed availability:    {len(m_slots):4d} slots (only inside the periods)")
        p.line(f"  without managed availability: {len(u_slots):4d} slots (any time not busy)")

        def slot(slots: list[tuple[datetime, datetime]], i: int) -> str:
            if i >= len(slots):
                return ""
            return f"{p.when(slots[i][0])}-{slots[i][1].astimezone(p.zone):%H:%M}"

        rows = [[slot(m_slots, i), slot(u_slots, i)] for i in range(8)]
        p.table(["managed (first slots)", "unmanaged (first slots)"], rows)
        if svg is not None:
            await _write_week(pg, svg, m_slots, u_slots, window[0])
            p.line(f"  the week picture: {svg}")

        # ---- summary
        expected = await _expected_periods(pg, now)
        actual = {
            x.available_period_id: (utc_instant(x.start), utc_instant(x.end))
            for x in await pg.periods()
        }
        report.periods_expected = len(expected)
        report.periods_in_sync = sum(1 for k, v in expected.items() if actual.get(k) == v)
        report.periods_extra = len(set(actual) - set(expected))
        counts = pg.emulator.request_counts()
        report.api_calls = sum(n for k, n in counts.items() if " /v1/" in k or " /oauth/" in k)
        report.client_api_calls = pg.client.stats.requests + demo.sync_api_calls
        accepted = pg.server.handle.accepted
        report.notifications_by_type = dict(accepted)
        report.notifications = sum(accepted.values())
        report.syncs = pg.coordinator.stats.syncs[pg.user_id]
        final = await pg.user()
        report.ok = (
            report.periods_expected > 0
            and report.periods_in_sync == report.periods_expected
            and report.periods_extra == 0
            and 0 < report.managed_slots < report.unmanaged_slots
            and report.api_calls == report.client_api_calls
            and final.state == "idle"
        )
        p.step("Summary")
        p.table(
            ["what", "count"],
            [
                ["Cronofy API calls made", str(report.api_calls)],
                [
                    "notifications received",
                    f"{report.notifications} ("
                    + ", ".join(f"{n} {kind}" for kind, n in sorted(accepted.items()))
                    + ")",
                ],
                ["syncs run", str(report.syncs)],
                ["periods in sync", f"{report.periods_in_sync}/{report.periods_expected}"],
                ["slots managed / unmanaged", f"{report.managed_slots} / {report.unmanaged_slots}"],
            ],
        )
        p.line()
        p.line("  OK: the pattern works end to end." if report.ok else "  NOT OK: see above.")
        if keep_running:
            await _wait_until_interrupted(pg, p, stop or asyncio.Event())
    return report


async def _write_week(
    pg: Playground,
    path: Path,
    managed: list[tuple[datetime, datetime]],
    unmanaged: list[tuple[datetime, datetime]],
    day: datetime,
) -> None:
    """The week view the notebook shows, as a standalone SVG file (opens in any browser):
    seven days from today, which hold everything the demo adds, with the unmanaged slots too
    (the notebook leaves them out)."""
    events = await pg.client.read_events(
        tzid=pg.tzid,
        from_=(day - timedelta(days=7)).date(),
        to=(day + timedelta(days=14)).date(),
        calendar_ids=[pg.calendar_id],
    )
    first = datetime.now(ZoneInfo(pg.tzid)).date()  # today, with "now" on it
    picture = render_week(
        bars_from(events, await pg.periods(), managed, unmanaged),
        week_start=first,
        tzid=pg.tzid,
        now=datetime.now(UTC),
        title=f"Available Periods, {span_title(first)} ({pg.tzid})",
        show_unmanaged=True,  # the file shows both answers, as the demo prints both
    )
    path.write_text(picture, encoding="utf-8")  # noqa: ASYNC240 - once, at the very end


async def _wait_until_interrupted(pg: Playground, p: Printer, stop: asyncio.Event) -> None:
    base = pg.emulator.base_url
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    body = json.dumps({"start": _iso(start), "end": _iso(start + timedelta(hours=1))})
    p.step("Still running: poke it (Ctrl-C to stop)")
    # From now on each delivery and each sync prints one line as it happens.
    pg.server.handle.add_delivery_listener(announce_deliveries(pg.store, p.out))
    emulator = pg.emulator

    def summary_of(uid: str) -> str | None:
        for account in emulator.state.accounts.values():
            for event in account.events.values():
                if event.event_uid == uid:
                    return event.summary or None
        return None

    pg.coordinator.add_listener(
        report_syncs(p.out, None, tzid_of=lambda _u: pg.tzid, summary_of=summary_of)
    )
    p.line("  add an availability event as the user (its delivery and sync print below):")
    p.line(
        f"    curl -X POST {base}/_emulator/calendars/{pg.calendar_id}/events "
        f"-H 'Content-Type: application/json' -d '{body}'"
    )
    p.line("  move or delete one:")
    p.line(
        f'    curl -X PATCH {base}/_emulator/events/EVENT_UID -d \'{{"start": ..., "end": ...}}\''
    )
    p.line(f"    curl -X DELETE {base}/_emulator/events/EVENT_UID")
    p.line(f"  the user's events     curl {base}/_emulator/calendars/{pg.calendar_id}/events")
    p.line(f"  webhook status        curl {pg.webhook_url}/status")
    p.line(f"  delivery log          curl {pg.webhook_url}/deliveries")
    p.line(f"  emulator request log  curl {base}/_emulator/requests")
    p.out.flush()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep-running", action="store_true", help="leave the emulator and server up afterwards"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object as the last line"
    )
    parser.add_argument(
        "--tzid", type=tzid_arg, default=DEMO_TZID, help="the demo user's time zone (IANA name)"
    )
    parser.add_argument(
        "--svg", type=Path, metavar="FILE", help="also write the week view (events, periods, slots)"
    )


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out if out is not None else sys.stdout  # resolved now: tests and callers swap it
    try:
        report = asyncio.run(
            run_demo(out, keep_running=args.keep_running, tzid=args.tzid, svg=args.svg)
        )
    except (CronofyError, OSError, TimeoutError) as exc:
        message = explain(exc).message  # cause and fix, never a Python class name
        if isinstance(exc, OSError) and not isinstance(exc, TimeoutError):
            message = f"{exc.strerror or exc}"
        report = DemoReport(ok=False, error=message.splitlines()[0])
        print(f"demo failed: {message}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    if args.json:
        print(json.dumps(asdict(report), sort_keys=True), file=out)
    return 0 if report.ok else 1
