"""The README as a new user follows it: the quick start's demo and the emulator walkthrough,
commands taken from the README itself (``docs/tutorial.md`` carries the same blocks, checked
identical), run in a temporary directory with a clean ``HOME``, no ``.env`` and nothing but
the documented commands. It ends where the README promises: an event
added as the user is an Available Period, visible in ``periods`` and ``availability``.

``source .venv/bin/activate`` is what puts ``cronofy-avail`` on the PATH; here the test's own
virtual environment is on the PATH instead (the activation line itself is checked to be there).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
import signal
from pathlib import Path

import pytest

from tests.support.user_cli import SCRIPT, UserShell

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
TUTORIAL = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
READY_WITHIN = 60.0
MARKERS = ("terminal 1", "terminal 2")


def block_after(marker: str, text: str = README) -> list[str]:
    """The shell lines of the code block right after ``<!-- walkthrough: MARKER -->``."""
    found = re.search(
        rf"<!-- walkthrough: {re.escape(marker)} -->\n```sh\n(.*?)^```", text, re.S | re.M
    )
    assert found, f"no walkthrough block {marker!r}"
    return [line for line in found.group(1).splitlines() if line.strip()]


def argv_of(line: str) -> list[str]:
    """``cronofy-avail …`` without the comment; the program name dropped."""
    words = shlex.split(line, comments=True)
    assert words[0] == "cronofy-avail", line
    return words[1:]


def commands(marker: str) -> list[list[str]]:
    lines = block_after(marker)
    assert lines[0] == "source .venv/bin/activate", "each terminal starts by activating"
    return [argv_of(line) for line in lines[1:]]


def make_recipe(target: str) -> list[str]:
    """The command lines of a Makefile target, ``$(BIN)/`` being the virtual environment."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    found = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert found, f"no {target} target"
    return [line.strip() for line in found.group(1).splitlines()]


def test_the_readme_quick_start_is_make_demo_and_make_test() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make demo" in quick
    assert "make test" in quick
    assert ".venv/bin/cronofy-avail" in quick
    assert "source .venv/bin/activate" in quick


@pytest.mark.parametrize("marker", MARKERS)
def test_the_tutorial_walks_through_what_the_readme_runs(marker: str) -> None:
    """The walkthrough below runs the README's blocks; the tutorial must say the same."""
    assert block_after(marker, TUTORIAL) == block_after(marker)


@pytest.mark.slow
async def test_make_demo_runs_as_its_recipe_says(tmp_path: Path) -> None:
    shell = UserShell(tmp_path)
    (recipe,) = make_recipe("demo")
    words = shlex.split(recipe)
    assert words[0] == "$(BIN)/cronofy-avail"
    code, text = await shell.run(*words[1:], within=120)
    assert code == 0, text
    assert "OK: the pattern works end to end." in text
    assert "{" not in text.split("== Summary ==", 1)[1]  # no Python dict in the summary


@pytest.mark.slow
async def test_the_emulator_walkthrough_as_written(tmp_path: Path) -> None:
    shell = UserShell(tmp_path)
    assert not (shell.cwd / ".env").exists()
    (first,) = commands("terminal 1")
    assert first[0] == "dev"
    # The documented ports may be taken on a test machine: only these two are changed.
    dev_argv = [*first, "--port", "0", "--receiver-port", "0"]
    dev = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        *dev_argv,
        cwd=shell.cwd,
        env=shell.environ(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert dev.stdout is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(READY_WITHIN):
            while True:
                line = (await dev.stdout.readline()).decode()
                assert line, "dev ended before it was ready:\n" + "".join(seen)
                seen.append(line)
                if line.strip() == "Ready.":
                    break
        settings = shell.cwd / ".env"
        assert settings.stat().st_mode & 0o777 == 0o600

        outputs: dict[str, str] = {}
        for argv in commands("terminal 2"):
            code, text = await shell.run(*argv)
            assert code == 0, f"cronofy-avail {shlex.join(argv)}\n{text}"
            outputs[argv[0]] = text
        # The event added as the user is an Available Period ...
        periods = outputs["periods"]
        assert "1 Available Period(s), 1 owned by this toolkit" in periods
        assert re.search(r"09:00 +\S+ 12:00 +\S+ +yes", periods), periods
        # ... and the only availability offered.
        availability = outputs["availability"]
        assert re.search(r"09:00 +\S+ 12:00 +180 min", availability), availability
        assert "1 period of at least 30 min" in availability
    finally:
        with contextlib.suppress(ProcessLookupError):
            dev.send_signal(signal.SIGINT)  # Ctrl-C
        rest, _ = await asyncio.wait_for(dev.communicate(), READY_WITHIN)
        seen.append(rest.decode())
    log = "".join(seen)
    assert dev.returncode == 0, log
    assert "Traceback" not in log
    # The first terminal showed the delivery and the sync, the event's summary by its period.
    assert re.search(r"^delivery \d+: change for default, signature ok, accepted$", log, re.M)
    assert re.search(r"^sync default: \w+ ok: upserted 'Available' as period \S+", log, re.M)
    assert not (shell.cwd / ".env").exists()  # removed on stop: no stale secrets left behind
