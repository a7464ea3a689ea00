"""``CRONOFY_AVAIL_RATE_LIMIT``, a raised Cronofy limit, as a user sets it: the installed
command, a clean ``HOME`` and working directory, exported variables only."""

from __future__ import annotations

import pytest

from cronofy_avail.app.explain import EXIT_CONFIG
from cronofy_avail.emulator import Emulator
from tests.support.commands import closed_port, emulator, export_account
from tests.support.user_cli import UserShell, shell

__all__ = ["emulator", "shell"]  # fixtures used by name


async def test_a_raised_limit_is_taken_and_shown(emulator: Emulator, shell: UserShell) -> None:
    await export_account(emulator, shell, "raised@example.com")
    shell.exported["CRONOFY_AVAIL_RATE_LIMIT"] = "100/s, 1000/min"
    code, text = await shell.run("setup", "--public-url", f"http://127.0.0.1:{closed_port()}")
    assert code == 0, text
    code, text = await shell.run("status")
    assert code == 0, text
    assert "CRONOFY_AVAIL_RATE_LIMIT" in text
    assert "100/s,1000/min" in text
    code, text = await shell.run("status", CRONOFY_AVAIL_RATE_LIMIT="")
    assert code == 0, text
    assert "50/s,500/min (Cronofy's default)" in text


@pytest.mark.parametrize(
    "argv",
    [
        ("status",),
        ("sync",),
        ("periods",),
        ("serve", "--port", "0", "--public-url", "http://127.0.0.1:9"),
        ("worker",),
    ],
    ids=" ".join,
)
async def test_a_bad_limit_is_a_clear_error_from_every_command(
    shell: UserShell, argv: tuple[str, ...]
) -> None:
    shell.exported.update(
        {
            "CRONOFY_CLIENT_ID": "cid",
            "CRONOFY_CLIENT_SECRET": "CRN_RateLimitTestSecret4Lk9",
            "CRONOFY_AVAIL_RATE_LIMIT": "50/sec,500/m",
        }
    )
    code, text = await shell.run(*argv)
    assert code == EXIT_CONFIG, text
    assert text.startswith(f"cronofy-avail {argv[0]}: configuration: CRONOFY_AVAIL_RATE_LIMIT=")
    assert "'500/m' is not <requests>/<period>" in text
    assert "CRONOFY_AVAIL_RATE_LIMIT=50/s,500/min" in text
    assert "Traceback" not in text
    assert "CRN_RateLimitTestSecret4Lk9" not in text
    assert not (shell.home / ".cronofy_avail").exists()  # nothing opened or created
