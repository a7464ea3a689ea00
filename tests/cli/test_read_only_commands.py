"""Commands that only read the store never create it: where nothing is set up yet they say so
(one wording) and leave no file behind, not even an empty store or a lock. Run as a user runs
them: the installed command, a clean ``HOME`` and working directory, exported variables only.
"""

from __future__ import annotations

import pytest

from tests.support.commands import closed_port
from tests.support.user_cli import UserShell, shell

NOTHING = "nothing is set up yet: there is no store at {store} (`cronofy-avail setup` creates it)"

__all__ = ["shell"]  # fixture used by name


def left_behind(shell: UserShell) -> list[str]:
    return sorted(str(p.relative_to(shell.root)) for p in shell.root.rglob("*"))


async def test_status_with_no_configuration_creates_nothing(shell: UserShell) -> None:
    before = left_behind(shell)
    code, text = await shell.run("status")
    assert code == 0, text
    store = shell.home / ".cronofy_avail" / "state.db"
    assert f"No users: {NOTHING.format(store=store)}." in text
    assert left_behind(shell) == before


@pytest.mark.parametrize(
    "argv",
    [
        ("periods",),
        ("availability",),
        ("sync",),
        ("sync", "--dry-run"),
        ("reconcile",),
        ("event", "list"),
        ("event", "add"),
        ("notify",),
        ("serve", "--port", "0", "--public-url", "http://127.0.0.1:9"),
    ],
    ids=" ".join,
)
async def test_a_command_that_reads_the_store_says_nothing_is_set_up_and_creates_nothing(
    shell: UserShell, argv: tuple[str, ...]
) -> None:
    shell.exported.update(
        {
            "CRONOFY_CLIENT_ID": "cid",
            "CRONOFY_CLIENT_SECRET": "CRN_ReadOnlyTestSecret4Lk9",
            "CRONOFY_API_BASE_URL": f"http://127.0.0.1:{closed_port()}",
        }
    )
    before = left_behind(shell)
    code, text = await shell.run(*argv)
    store = shell.home / ".cronofy_avail" / "state.db"
    assert code == 1, text
    assert f"cronofy-avail {' '.join(argv[:2]) if argv[0] == 'event' else argv[0]}: " in text
    assert f"{NOTHING.format(store=store)}.\nFix: run `cronofy-avail setup` first" in text
    assert "Traceback" not in text
    assert left_behind(shell) == before


@pytest.mark.parametrize("local", [False, True], ids=["teardown", "teardown --local"])
async def test_teardown_of_nothing_is_no_error_and_creates_nothing(
    shell: UserShell, local: bool
) -> None:
    shell.exported.update({"CRONOFY_CLIENT_ID": "cid", "CRONOFY_CLIENT_SECRET": "CRN_x1y2z3w4v5"})
    before = left_behind(shell)
    code, text = await shell.run("teardown", *(["--local"] if local else []))
    store = shell.home / ".cronofy_avail" / "state.db"
    assert code == 0, text
    assert f"Nothing to tear down: {NOTHING.format(store=store)}." in text
    assert left_behind(shell) == before


async def test_notify_to_a_given_url_needs_no_store_and_creates_none(shell: UserShell) -> None:
    shell.exported["CRONOFY_CLIENT_SECRET"] = "CRN_ReadOnlyTestSecret4Lk9"
    before = left_behind(shell)
    port = closed_port()
    code, text = await shell.run("notify", f"http://127.0.0.1:{port}/cronofy/notifications/x")
    assert code == 1, text
    assert f"cannot reach 127.0.0.1:{port}" in text  # it got as far as sending
    assert left_behind(shell) == before
