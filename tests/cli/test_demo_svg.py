"""``cronofy-avail demo --svg FILE``: the notebook's week picture as a standalone file."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

from cronofy_avail.cli.demo import run_demo

NS = "{http://www.w3.org/2000/svg}"


async def test_demo_writes_the_week_view(tmp_path: Path) -> None:
    path = tmp_path / "week.svg"
    out = io.StringIO()
    report = await run_demo(out, svg=path)
    assert report.ok, out.getvalue()
    assert f"the week picture: {path}" in out.getvalue()
    root = ET.fromstring(path.read_text(encoding="utf-8"))  # noqa: S314 - our own output
    drawn: dict[str, set[str]] = {}
    for rect in root.iter(f"{NS}rect"):
        kind = rect.get("data-kind")
        if kind:
            drawn.setdefault(kind, set()).add(rect.get("data-id", ""))
    # every period drawn sits next to the event it was made from (ids are keyed on the event)
    assert drawn["period"]
    assert drawn["period"] <= drawn["event"]
    assert 0 < len(drawn.get("managed", set())) <= report.managed_slots
    assert len(drawn["unmanaged"]) <= report.unmanaged_slots
    assert root.get("data-tzid") == "Europe/London"
