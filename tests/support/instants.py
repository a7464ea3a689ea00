"""The instants at which the tests that touch dates also run, and the runner that runs them.

A test that passes only in the week it was written turns CI red on its own later, and one that
fails on Sundays or at a daylight-saving change blocks everyone on that day. So every
``make test`` runs the date-touching tests (``DATE_TOUCHING`` below, marked ``dates`` by
``tests/conftest.py``) once more at each of these instants, under Debian's libfaketime (the
clock of the whole process tree: the test process, the CLI subprocesses it starts, the
emulator), each in its own pytest process:

- a Sunday at 23:50 UTC (the next one): "tomorrow" is in next week, and the day ends soon;
- each daylight-saving change of Europe/London and America/New_York in the coming year,
  half an hour before and half an hour after it;
- 31 December at 23:59 UTC (the next one);
- 29 February at noon UTC (the next one);
- a year from now.

They are computed from today, so they stay ahead of the calendar instead of falling behind it.

    python -m tests.support.instants        # all of them, two at a time
    python -m tests.support.instants --list # just say which instants
    python -m tests.support.instants -k sunday -- tests/core/test_week.py  # some of both

Without libfaketime (``apt-get install faketime``) it says so and runs nothing, except under CI,
where that is a failure. The PostgreSQL tests are not among them: a throwaway PostgreSQL keeps
the real clock, so they take "now" from an injected clock instead.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
ZONES = ("Europe/London", "America/New_York")
LIBFAKETIME = (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
    "/usr/local/lib/faketime/libfaketimeMT.so.1",
)


# The tests that touch dates: the emulator's read windows and availability, the sync's times
# and zones, the week view and the wizard, the CLI's days and the demo. pytest marks them
# ``dates`` (tests/conftest.py); the runner below collects only these files.
DATE_TOUCHING = (
    "tests/cli/test_days_and_windows.py",
    "tests/cli/test_demo.py",
    "tests/cli/test_demo_svg.py",
    "tests/core/test_mapping.py",
    "tests/core/test_planner.py",
    "tests/core/test_planner_claims.py",
    "tests/core/test_week.py",
    "tests/e2e/test_dev_and_commands.py::test_an_event_that_ended_is_warned_about_and_its_skip_explained",
    "tests/e2e/test_sync_over_http.py",
    "tests/emulator/test_api.py",
    "tests/emulator/test_availability.py",
    "tests/emulator/test_availability_query.py",
    "tests/emulator/test_control.py",
    "tests/emulator/test_divergences.py",
    "tests/emulator/test_events.py",
    "tests/emulator/test_notifications.py",
    "tests/emulator/test_own_changes_sync.py",
    "tests/emulator/test_periods.py",
    "tests/notebook/test_controller.py",
    "tests/notebook/test_widgets.py",
    "tests/notebook/test_wizard_workshop.py::test_a_wizard_on_the_workshop_url_reaches_step_4_through_the_relay",
    "tests/project/test_instants.py",
    "tests/sync/test_every_period_keeps_an_owner.py",
    "tests/sync/test_progress.py",
    "tests/sync/test_watermark.py",
    "tests/workshop/test_progress.py::test_the_wizard_keeps_the_seat_and_lab_checks_show_on_the_instructor_page",
)


@dataclass(frozen=True)
class Instant:
    name: str
    at: datetime  # aware, UTC

    def faketime(self) -> str:
        """libfaketime's ``FAKETIME`` value: the clock is here now, and runs on.

        An offset from the real clock, not an absolute start ("@..."): a start time counts
        from each process's own start, so a CLI started a minute into the tests would be a
        minute behind them. An offset keeps every process of the tree on one clock."""
        return f"{round((self.at - datetime.now(UTC)).total_seconds()):+d}"


def transitions(zone: str, start: datetime, days: int = 366) -> list[datetime]:
    """The instants (UTC, to the minute) in ``[start, start + days)`` at which ``zone``'s UTC
    offset changes."""
    tz = ZoneInfo(zone)
    found: list[datetime] = []
    hour = start.replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(days=days)
    offset = hour.astimezone(tz).utcoffset()
    while hour < end:
        later = hour + timedelta(hours=1)
        if later.astimezone(tz).utcoffset() != offset:
            minute = hour
            while minute.astimezone(tz).utcoffset() == offset:
                minute += timedelta(minutes=1)
            if minute >= start:
                found.append(minute)
            offset = later.astimezone(tz).utcoffset()
        hour = later
    return found


def next_sunday_night(now: datetime, zone: str = "UTC") -> datetime:
    """The first Sunday 23:50 in ``zone`` after ``now``: "tomorrow" is in the next calendar
    week, and the day ends soon."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    day = local.date() + timedelta(days=(6 - local.weekday()) % 7)
    sunday = datetime.combine(day, time(23, 50), tz)
    return sunday if sunday > local else sunday + timedelta(days=7)


def instants(now: datetime) -> list[Instant]:
    """The instants for a run made at ``now``: all of them after it."""
    now = now.astimezone(UTC)
    out = [Instant("sunday-2350", next_sunday_night(now).astimezone(UTC))]
    for zone in ZONES:
        short = zone.split("/")[-1].lower()
        # the next spring and autumn changes whose "before" is still ahead
        for change in transitions(zone, now + timedelta(minutes=30))[:2]:
            when = change.astimezone(ZoneInfo(zone))
            kind = "spring" if when.dst() else "autumn"
            out.append(Instant(f"{short}-{kind}-before", change - timedelta(minutes=30)))
            out.append(Instant(f"{short}-{kind}-after", change + timedelta(minutes=30)))
    eve = datetime(now.year, 12, 31, 23, 59, tzinfo=UTC)
    out.append(Instant("new-years-eve-2359", eve if eve > now else eve.replace(year=now.year + 1)))
    year = now.year
    while True:
        try:
            leap = datetime(year, 2, 29, 12, tzinfo=UTC)
        except ValueError:
            year += 1
            continue
        if leap > now:
            break
        year += 1
    out.append(Instant("leap-day", leap))
    out.append(Instant("a-year-on", now.replace(microsecond=0) + timedelta(days=365)))
    return out


def libfaketime() -> str | None:
    """Debian's libfaketime, the build for threaded programs (a kernel, aiohttp's resolver).
    The monotonic clock is faked too (offset, still steady): with it left real, a Jupyter
    kernel and a Python subprocess under pytest were seen to hang."""
    for path in LIBFAKETIME:
        if Path(path).is_file():
            return path
    return None


FAKED = ("LD_PRELOAD", "FAKETIME", "TZ")
"""What :func:`env_at` sets: a test that starts a process with a clean environment (the CLI
as a user runs it) passes these on, so the process runs at the tests' instant too."""


def env_at(instant: Instant, lib: str) -> dict[str, str]:
    """The environment that runs a process (and its children) at ``instant`` from now on."""
    return {
        **os.environ,
        "LD_PRELOAD": lib,
        "FAKETIME": instant.faketime(),
        "TZ": "UTC",
    }


def _summary(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip("= ") if lines else "(no output)"


def _counts(summary: str) -> tuple[int, int]:
    passed = failed = 0
    for part in summary.replace(" in ", ", ").split(","):
        words = part.split()
        if len(words) >= 2 and words[0].isdigit():
            if words[1] == "passed":
                passed = int(words[0])
            elif words[1] in ("failed", "errors", "error"):
                failed += int(words[0])
    return passed, failed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.instants", description=__doc__)
    parser.add_argument("--list", action="store_true", help="print the instants and stop")
    parser.add_argument("-k", dest="only", help="run only the instants whose name holds this")
    parser.add_argument("-j", dest="jobs", type=int, default=2, help="instants at once (2)")
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds one instant may take (900)"
    )
    parser.add_argument("pytest_args", nargs="*", help="after --: what pytest runs")
    args = parser.parse_args(argv)
    chosen = [i for i in instants(datetime.now(UTC)) if not args.only or args.only in i.name]
    if args.list:
        for i in chosen:
            print(f"{i.name:24} {i.at:%a %Y-%m-%d %H:%M} UTC")
        return 0
    lib = libfaketime()
    if lib is None:
        if os.environ.get("CI"):
            print("instants: libfaketime is missing (apt-get install faketime)", file=sys.stderr)
            return 1
        print("instants: skipped, libfaketime is not installed (apt-get install faketime)")
        return 0
    pytest_args = args.pytest_args or ["-m", "dates and not slow", *DATE_TOUCHING]
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args]
    what = " ".join(args.pytest_args) if args.pytest_args else "the date-touching tests"
    print(f"instants: {what} at {len(chosen)} instants, {args.jobs} at a time")

    def run(instant: Instant) -> tuple[Instant, int, str]:
        try:
            done = subprocess.run(  # noqa: S603 - our own interpreter and pytest
                command,
                cwd=ROOT,
                env=env_at(instant, lib),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                check=False,
                timeout=args.timeout,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode("utf-8", "replace") if exc.stdout else ""
            return instant, -1, f"{out}\nnot finished after {args.timeout:g} s: stopped\n"
        return instant, done.returncode, done.stdout.decode("utf-8", "replace")

    results: list[tuple[Instant, int, str]] = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for instant, code, text in pool.map(run, chosen):
            results.append((instant, code, text))
            print(f"  {instant.name:24} {instant.at:%a %Y-%m-%d %H:%M} UTC  {_summary(text)}")
            sys.stdout.flush()
    passed = failed = 0
    for instant, code, text in results:
        p, f = _counts(_summary(text))
        passed += p
        failed += f if f or code == 0 else 1
        if code != 0:
            print(f"\n---- at {instant.name} ({instant.at:%Y-%m-%d %H:%M} UTC):\n{text[-6000:]}")
    print(f"instants: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
