"""What went wrong, in a notebook's words: the explainer's cause and fix with the wizard's
buttons instead of the CLI's commands, an emulator that stopped answering said as such, the
traceback only when asked for, and never a secret."""

from __future__ import annotations

import traceback
from collections.abc import Iterable
from urllib.parse import urlsplit

import aiohttp

from cronofy_avail.app.explain import REAUTHORIZE, explain
from cronofy_avail.app.oauth import Wording
from cronofy_avail.core.errors import CronofyTimeoutError, CronofyTransportError
from cronofy_avail.emulator.control_client import EmulatorControl

NOTEBOOK_WORDING = Wording(
    again="press Authorize in the notebook again",
    done_page=(
        "Authorized: the notebook has the tokens (kept hidden) and connects now. You can "
        "close this tab."
    ),
    where_next="The notebook's Connect panel says what to do next.",
    busy_port=(
        "stop what uses it (a `cronofy-avail authorize` still waiting?), or run "
        "wizard.controller.set_input('redirect_port', PORT) with the port of another redirect "
        "URI registered in your Cronofy application"
    ),
)
"""The shared OAuth listener's words in the notebook."""


def explain_in_notebook(
    exc: BaseException,
    *,
    control: EmulatorControl | None,
    mode: str,
    debug: bool,
    secrets: Iterable[str],
) -> str:
    """Cause and fix in a notebook's words (no ``--debug``, no command to run), with the
    traceback under it when ``debug``; no secret."""
    message = unreachable(exc, control, mode) or _notebook_words(explain(exc).message, debug)
    if debug:
        message += "\n\n" + "".join(traceback.format_exception(exc))
    for secret in secrets:
        message = message.replace(secret, "…")
    return message


def unreachable(exc: BaseException, control: EmulatorControl | None, mode: str) -> str | None:
    """The emulator this wizard talks to no longer answers (stopped, or its machine gone):
    said as such, instead of a connection error's class name."""
    if control is None:
        return None
    if isinstance(exc, CronofyTransportError | CronofyTimeoutError):
        if exc.url and urlsplit(exc.url).netloc != urlsplit(control.base_url).netloc:
            return None
    elif not isinstance(exc, aiohttp.ClientConnectionError | ConnectionError):
        return None
    if mode == "embedded":
        return (
            f"cannot reach the emulator at {control.base_url} (the one this wizard started "
            "in this kernel): was the wizard shut down, or the kernel restarted?\n"
            "Fix: run the wizard's cell again."
        )
    return (
        f"cannot reach the emulator at {control.base_url}: is it still running?\n"
        "Fix: start it again (in a workshop, ask the instructor), then press Connect in "
        "step 0."
    )


_NOTEBOOK_WORDS = (
    (
        REAUTHORIZE,
        "press Authorize in step 0 (or put new tokens in CRONOFY_ACCESS_TOKEN / "
        "CRONOFY_REFRESH_TOKEN) and run Connect again",
    ),
    ("run `cronofy-avail setup` again to recreate it", "run steps 1 and 2 again to recreate it"),
    ("start again with `cronofy-avail authorize`", "press Authorize in step 0 again"),
)
"""The explainer's command-line fixes, and what to do in the wizard instead."""


def _notebook_words(message: str, debug: bool) -> str:
    for cli, notebook in _NOTEBOOK_WORDS:
        message = message.replace(cli, notebook)
    hint = "\nrun with --debug for the traceback"
    if hint in message:  # an unexpected error
        message = message.replace(hint, "" if debug else "\n(Wizard(debug=True) shows where.)")
    return message


__all__ = ["NOTEBOOK_WORDING", "explain_in_notebook", "unreachable"]
