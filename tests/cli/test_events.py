"""``cronofy-avail event`` against the emulator over real HTTP, with ``serve`` running next to
it: what ``event`` echoes is what the receiver's sync line says."""

from __future__ import annotations

import re
from datetime import date, timedelta

from tests.support.commands import Cli, Served, cli, closed_port, emulator

__all__ = ["cli", "emulator"]  # fixtures used by name

SPAN = re.compile(r"(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}) to (?:(\d{4}-\d{2}-\d{2}) )?(\d{2}:\d{2})")


def spans(text: str) -> list[tuple[str, ...]]:
    return [tuple(m.groups(default="")) for m in SPAN.finditer(text)]


async def test_an_event_to_midnight_is_echoed_ending_the_next_day_as_the_sync_says(
    cli: Cli,
) -> None:
    port = closed_port()
    await cli.setup(f"http://127.0.0.1:{port}")
    async with Served(cli, port) as served:
        code, added = await cli.run(
            "event", "add", "--date", "+2", "--from", "09:00", "--to", "00:00", "--wait"
        )
        assert code == 0, added
        (echoed,) = spans(added)
        first_day, start, last_day, end = echoed
        assert (start, end) == ("09:00", "00:00")
        assert date.fromisoformat(last_day) == date.fromisoformat(first_day) + timedelta(days=1)
        synced = [line for line in served.text.splitlines() if "upserted" in line]
        assert synced, served.text
        assert spans(synced[-1]) == [echoed]  # one wording for one span, in both terminals

        uid = re.search(r"Added (\S+) ", added)
        assert uid, added
        code, moved = await cli.run("event", "move", uid.group(1), "--from", "22:00")
        assert code == 0, moved
        assert spans(moved) == [(first_day, "22:00", last_day, "00:00")]
        code, listed = await cli.run("event", "list")
        assert code == 0, listed
        assert f"{last_day} 00:00" in listed

        code, same_day = await cli.run("event", "add", "--date", "+3", "--to", "17:00")
        assert code == 0, same_day
        assert [s[2] for s in spans(same_day)] == [""]  # a same-day end keeps its short form
