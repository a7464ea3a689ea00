"""The instructor page, made for a projector: large type, the URL and join code to copy, each
attendee's step, exercises (notebook 04's checks, as the attendee's kernel reports them) and
sync, the faults in force (which, for how long, how much is left), and buttons that inject
them for everyone.

Pure: the status (:func:`~cronofy_avail.workshop.classroom.status`) in, HTML out. Every value
shown is escaped (names are attendees' input); no token, secret or relay id is in the status.
The page refreshes its ``<main>`` every two seconds from ``?part=main`` (one renderer for both),
and reloads itself every five without JavaScript.
"""

from __future__ import annotations

import html
from typing import Any

WORKSHOP_PATH = "/_emulator/workshop"
FAULT_BUTTONS = (
    ("429_burst", "429 burst"),
    ("503_burst", "503 burst"),
    ("slow", "slow"),
    ("clear", "clear all"),
)
PROGRESS_PATH = WORKSHOP_PATH + "/progress"
EXERCISES = ("thursday_afternoon", "slot_mystery", "all_day", "recovered")
"""Notebook 04's exercises, in order (the page numbers them 1 to 4): the only names an
attendee's check may report."""
STEPS = ("joined", "1 sub calendar", "2 channel", "3 syncing", "4 availability")

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem 2rem;font-size:clamp(16px,1.6vw,30px);
color:#1d1d1f;background:#fbfbfd}
h1{font-size:1.6em;margin:.2em 0}
.join{font-size:1.3em;margin:.4em 0 .8em}
.join code{font-size:1.15em;background:#eef;padding:.1em .4em;border-radius:.2em;
white-space:nowrap}
.summary{font-size:1.2em;margin:.3em 0}
table{border-collapse:collapse;width:100%;margin:.5em 0}
th{text-align:left;border-bottom:2px solid #999;padding:.3em .6em}
td{padding:.35em .6em;border-bottom:1px solid #ddd}
.ok{color:#176b2c;font-weight:600}.bad{color:#a11;font-weight:600}
.faults{margin:.6em 0;font-size:1.1em}
.fault{display:inline-block;background:#fff1e6;border:1px solid #e8a36b;border-radius:.3em;
padding:.15em .5em;margin:.1em .3em .1em 0}
button{font-size:1em;padding:.35em .9em;margin:.2em .3em .2em 0;border-radius:.3em;
border:1px solid #888;background:#fff;cursor:pointer}
button:focus-visible{outline:3px solid #1a5fb4}
"""

_LIVE = f"""
<script>
setInterval(async () => {{
  try {{
    const answer = await fetch("{WORKSHOP_PATH}?part=main", {{cache: "no-store"}});
    if (answer.ok) document.querySelector("main").innerHTML = await answer.text();
  }} catch (e) {{}}
}}, 2000);
</script>
"""


def _duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def describe_fault(fault: dict[str, Any]) -> str:
    """``429 burst: 34 of 90 left, for 12 s``; ``slow: +800 ms on every call, for 2 min``."""
    kind = str(fault["kind"])
    since = _duration(int(fault.get("seconds", 0)))
    if kind == "slow":
        return f"slow: +{fault.get('latency_ms', 0):.0f} ms on every call, for {since}"
    label = kind.replace("_", " ")
    return f"{label}: {fault.get('left', 0)} of {fault.get('total', 0)} left, for {since}"


def _sync_class(in_sync: bool | None) -> str:
    if in_sync is None:
        return ""
    return "ok" if in_sync else "bad"


def _sync_text(a: dict[str, Any]) -> str:
    if a.get("in_sync") is None:
        return "-"
    counts = f"{a.get('periods_in_sync', 0)}/{a.get('periods_expected', 0)}"
    return counts if a["in_sync"] else counts + " (not in sync)"


def exercises_text(progress: dict[str, bool | None]) -> str:
    """``1 ✔ 2 ✔ 3 ✘ 4 -``: solved, checked and still wrong, not checked yet."""
    marks = {True: "✔", False: "✘", None: "-"}
    return " ".join(f"{n} {marks[progress.get(name)]}" for n, name in enumerate(EXERCISES, 1))


def render_main(data: dict[str, Any], attendee_url: str, join_code: str) -> str:
    """The live part of the page."""
    esc = html.escape
    rows = []
    for a in data["attendees"]:
        relay = a.get("relay") or {}
        since = relay.get("seconds_since_poll")
        held = f" · {relay['held']} held" if relay.get("held") else ""
        rows.append(
            "<tr>"
            f"<td>{esc(a['name'])}</td>"
            f"<td>{esc(STEPS[a['step']])}</td>"
            f"<td class='exercises'>{exercises_text(a.get('exercises') or {})}</td>"
            f"<td>{a.get('deliveries_ok', 0)} ok / {a.get('deliveries_failed', 0)} failed</td>"
            f"<td>{a.get('syncs', 0)}</td>"
            f"<td class='{_sync_class(a.get('in_sync'))}'>{_sync_text(a)}</td>"
            f"<td>{'' if since is None else f'{since} s ago'}{held}</td>"
            "</tr>"
        )
    active = data.get("active") or []
    faults = (
        "".join(f"<span class='fault'>{esc(describe_fault(f))}</span>" for f in active) or "none"
    )
    return f"""
<p class="join">Attendees paste: <code>{esc(attendee_url)}</code><br>
Join code: <code>{esc(join_code)}</code></p>
<p class="summary">{data["count"]} attendee(s) · {data["in_sync"]} in sync</p>
<table><tr><th>attendee</th><th>step</th><th>exercises</th><th>deliveries</th><th>syncs</th>
<th>periods in sync</th><th>relay poll</th></tr>
{"".join(rows)}
</table>
<p class="faults">Faults in force: {faults}</p>
"""


def render_page(data: dict[str, Any], attendee_url: str, join_code: str) -> str:
    esc = html.escape
    buttons = "".join(
        f"<button name='kind' value='{kind}'>{esc(label)}</button>" for kind, label in FAULT_BUTTONS
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<noscript><meta http-equiv="refresh" content="5"></noscript>
<title>cronofy-avail workshop</title>
<style>{_STYLE}</style></head><body>
<h1>Workshop</h1>
<main>{render_main(data, attendee_url, join_code)}</main>
<form method="post" action="{WORKSHOP_PATH}/fault"><p>Inject for everyone: {buttons}</p></form>
{_LIVE}
</body></html>"""
