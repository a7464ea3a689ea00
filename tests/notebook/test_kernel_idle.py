"""A delivery that arrives while the kernel is idle (between cells) is processed and shown.

ipykernel 7 changed when background tasks run between cells (ipykernel #1510). Here a real
kernel runs the wizard; then, with no cell running, the user's calendar changes on the
emulator (from outside the kernel). The test waits for the widget update the kernel sends on
its own: the periods table's new value, carried by a comm message on IOPub, as a front end
would receive it. No cell awaits anything in between. Every output and widget message of the
session is then scanned for the tokens and the client secret.
"""

from __future__ import annotations

import json
import queue
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

SETUP = """
from cronofy_avail import Wizard
wizard = await Wizard.start()
assert await wizard.run_all(), [s.error for s in wizard.steps.values()]
import json
print(json.dumps({"emulator": wizard.controller.backend.control.base_url,
                  "calendar": wizard.controller.calendar.calendar_id}))
"""


@pytest.fixture(scope="module")
def kernel() -> Iterator[Any]:
    manager = pytest.importorskip("jupyter_client.manager")
    km, kc = manager.start_new_kernel(kernel_name="python3")
    try:
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


SEEN: list[dict[str, Any]] = []
"""Every IOPub message of the session: outputs and widget updates, as a front end sees them."""

SECRETS_TO_FILE = """
import json as _json
_b = wizard.controller.backend
_secrets = [_b.client.tokens.access_token, _b.client.tokens.refresh_token,
            _b.client._client_secret]
open({path!r}, "w").write(_json.dumps(_secrets))  # a private channel: never an output
"""


def execute(kc: Any, code: str) -> str:
    out: list[str] = []
    errors: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        SEEN.append(msg)
        content = msg["content"]
        if msg["msg_type"] == "stream":
            out.append(content["text"])
        elif msg["msg_type"] == "error":
            errors.append("\n".join(content["traceback"]))

    reply = kc.execute_interactive(code, output_hook=hook, timeout=120)
    assert reply["content"]["status"] == "ok", errors
    return "".join(out)


def test_a_delivery_between_cells_updates_the_wizard(kernel: Any, tmp_path: Path) -> None:
    info = json.loads(execute(kernel, SETUP).strip().splitlines()[-1])
    assert execute(kernel, "print(len(wizard.controller.periods))").strip() == "0"
    # From here on no cell runs until the update has been seen.
    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    body = json.dumps(
        {
            "summary": "Added while the kernel was idle",
            "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - the emulator on 127.0.0.1
        f"{info['emulator']}/_emulator/calendars/{info['calendar']}/events",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        assert response.status in (200, 201)
    deadline = time.monotonic() + 60
    shown = False
    while not shown:
        remaining = deadline - time.monotonic()
        assert remaining > 0, "the idle kernel never showed the new period"
        try:
            msg = kernel.get_iopub_msg(timeout=remaining)
        except queue.Empty:
            continue
        SEEN.append(msg)
        if msg["msg_type"] != "comm_msg":
            continue
        state = msg["content"]["data"].get("state", {})
        value = state.get("value", "")
        shown = (
            isinstance(value, str)
            and "cav-periods-table" in value
            and ("Added while the kernel was idle" in value)
        )
    assert execute(kernel, "print(len(wizard.controller.periods))").strip() == "1"
    feed = execute(kernel, "print(wizard.feed.value)")
    assert "change" in feed
    assert "signature ok" in feed
    # No token or secret in any output or widget message the kernel sent.
    secrets_file = tmp_path / "secrets.json"
    execute(kernel, SECRETS_TO_FILE.format(path=str(secrets_file)))
    secrets = [x for x in json.loads(secrets_file.read_text()) if x]
    assert len(secrets) == 3
    sent = json.dumps([m["content"] for m in SEEN], default=str)
    assert "Added while the kernel was idle" in sent  # the scan sees the widget values
    assert [x for x in secrets if x in sent] == []
    execute(kernel, "await wizard.shutdown()")
