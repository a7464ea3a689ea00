"""An attendee's seat in a workshop: where the workshop is and the attendee token, kept in a
file so that another kernel of the same user (notebook 04's exercises, which run their own
embedded emulator) can report its checks to the instructor page.

The wizard writes the seat when it joins (or rejoins) a workshop; a check reads it::

    save_seat(base_url, joined, "Ada")      # the wizard, when it joins
    seat = load_seat()                      # None when this user joined no workshop
    if seat is not None:
        note = await report_progress(seat, "thursday_afternoon", ok=True)

The file is ``~/.cronofy_avail/workshop.json`` (next to the default store, ``HOME`` as the
process sees it), or the path ``CRONOFY_AVAIL_SEAT`` names; it is created owner-only (0600)
and holds ``{"base_url", "attendee_token", "account_id", "name"}``: never the application's
client secret. The token opens only the attendee's own routes (their account, their relay
box, their progress), and a rejoin replaces it (the seat is written again).
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from cronofy_avail.workshop.attendee import Joined
from cronofy_avail.workshop.page import EXERCISES, PROGRESS_PATH

ENV_SEAT = "CRONOFY_AVAIL_SEAT"
"""A seat file other than the default one (e.g. two attendees on one machine)."""
REPORT_WITHIN = 3.0
"""Seconds a report may take before the check gives up on it (and says so in one line)."""


@dataclass(frozen=True)
class Seat:
    base_url: str
    attendee_token: str
    account_id: str = ""
    name: str = ""

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return f"Seat(base_url={self.base_url!r}, name={self.name!r})"


def seat_path() -> Path:
    """``CRONOFY_AVAIL_SEAT``, else ``~/.cronofy_avail/workshop.json``."""
    named = os.environ.get(ENV_SEAT, "").strip()
    return Path(named).expanduser() if named else Path.home() / ".cronofy_avail" / "workshop.json"


def save_seat(base_url: str, joined: Joined, name: str = "", path: Path | None = None) -> Path:
    """Keep the seat ``joined`` gives at the workshop ``base_url`` (as this machine reaches it):
    its attendee token, owner-only, replacing any earlier one; returns the file. Written whole
    or not at all (a temporary file renamed), so a kernel reading it meanwhile sees the old
    seat or the new one."""
    path = path or seat_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = {
        "base_url": base_url.rstrip("/"),
        "attendee_token": joined.attendee_token,
        "account_id": str(joined.data.get("account_id", "")),
        "name": name,
    }
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an earlier file of another mode keeps its mode through O_TRUNC
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(partial, path)
    return path


def load_seat(path: Path | None = None) -> Seat | None:
    """The seat kept in ``path`` (default :func:`seat_path`), or ``None``: no file, or one that
    is not a seat."""
    try:
        data = json.loads((path or seat_path()).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    base_url, token = data.get("base_url"), data.get("attendee_token")
    if not isinstance(base_url, str) or not isinstance(token, str) or not base_url or not token:
        return None
    return Seat(
        base_url.rstrip("/"),
        token,
        str(data.get("account_id") or ""),
        str(data.get("name") or ""),
    )


async def report_progress(
    seat: Seat,
    exercise: str,
    ok: bool,
    *,
    session: aiohttp.ClientSession | None = None,
    within: float = REPORT_WITHIN,
) -> str | None:
    """Tell the workshop ``exercise`` is solved (``ok``) or not. Never raises: ``None`` when
    the workshop recorded it, else one short line saying why the instructor page does not
    show it (no token, URL or traceback in it)."""
    if exercise not in EXERCISES:
        raise ValueError(f"exercise must be one of {', '.join(EXERCISES)}")
    body = {"exercise": exercise, "ok": ok}
    headers = {"Authorization": f"Bearer {seat.attendee_token}"}
    own = session is None
    http = session or aiohttp.ClientSession()
    try:
        async with asyncio.timeout(within):
            async with http.post(seat.base_url + PROGRESS_PATH, json=body, headers=headers) as r:
                await r.read()
                status = r.status
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
        return "(the workshop did not answer: the instructor page does not show this check)"
    finally:
        if own:
            await http.close()
    if status in (401, 403):
        return "(the workshop no longer knows this seat: join again in notebook 01)"
    if status >= 300:
        return f"(the workshop refused this check's result: {status})"
    return None


__all__ = ["ENV_SEAT", "Seat", "load_seat", "report_progress", "save_seat", "seat_path"]
