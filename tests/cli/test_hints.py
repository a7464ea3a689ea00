"""One cause, one hint, whichever command meets it: in a directory with no ``.env`` and no
variable set, every command says that nothing is configured and how to start (``dev``, or the
application's credentials), not the hint of the first thing it happened to miss. Run as a user
runs them: the installed command, a clean ``HOME`` and working directory, nothing exported."""

from __future__ import annotations

import pytest

from cronofy_avail.app.explain import EXIT_CONFIG, NOTHING_CONFIGURED
from tests.support.user_cli import UserShell, shell

__all__ = ["shell"]  # fixture used by name


@pytest.mark.parametrize(
    "argv",
    [
        ("periods",),
        ("availability",),
        ("sync",),
        ("reconcile",),
        ("setup",),
        ("serve",),
        ("authorize", "--no-browser"),
        ("notify",),
        ("event", "add"),
        ("event", "list"),
    ],
    ids=" ".join,
)
async def test_an_unconfigured_directory_gets_the_same_hint_from_every_command(
    shell: UserShell, argv: tuple[str, ...]
) -> None:
    code, text = await shell.run(*argv)
    command = " ".join(argv[:2]) if argv[0] == "event" else argv[0]
    assert code == EXIT_CONFIG, text
    assert text == f"cronofy-avail {command}: {NOTHING_CONFIGURED}\n"
    assert "cronofy-avail dev" in text
    assert "developer dashboard" in text


async def test_status_says_it_too(shell: UserShell) -> None:
    code, text = await shell.run("status")
    assert code == 0, text
    assert NOTHING_CONFIGURED[1:] in text


async def test_a_partly_configured_directory_gets_the_hint_of_what_is_missing(
    shell: UserShell,
) -> None:
    (shell.cwd / ".env").write_text("CRONOFY_CLIENT_ID=cid\n")
    code, text = await shell.run("periods")
    assert code == EXIT_CONFIG, text
    assert "CRONOFY_CLIENT_SECRET is not set" in text
    assert NOTHING_CONFIGURED not in text
    code, text = await shell.run("event", "add")
    assert code == 1, text
    assert "`event` acts as the user in the local emulator, and CRONOFY_API_BASE_URL" in text
