"""The OAuth authorization-code redirect, one for every entry point: ``cronofy-avail authorize``
and the notebook wizard's "Authorize" button listen on the same redirect URI,
``http://127.0.0.1:8765/oauth/callback`` (:data:`REDIRECT_URI`): register that one URI in the
Cronofy application and both work.

:func:`receive_redirect` serves the callback on 127.0.0.1 until the redirect that answers this
run arrives (its ``state`` checked), then *completes* the code (exchange it, keep the tokens)
before it answers the browser: "Authorized" only once the tokens are kept, a failure page (with
the first line of the explanation, never a secret) otherwise. Where the user reads what to do
next differs (the terminal, the notebook), so each caller says it in :class:`Wording`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from cronofy_avail.app.explain import CommandError
from cronofy_avail.core.errors import AuthorizationCodeRefusedError, CronofyError
from cronofy_avail.runtime.serving import start_site

CALLBACK_PATH = "/oauth/callback"
REDIRECT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def redirect_uri(port: int = DEFAULT_PORT) -> str:
    """The redirect URI of a listener on ``port`` (register the default one)."""
    return f"http://{REDIRECT_HOST}:{port}{CALLBACK_PATH}"


REDIRECT_URI = redirect_uri()
"""The one redirect URI to register in the Cronofy application (CLI and notebook alike)."""

T = TypeVar("T")

Complete = Callable[[str], Awaitable[T]]
"""Exchange a code and keep the tokens; what it returns is the run's result."""


@dataclass(frozen=True, slots=True)
class Wording:
    """What the user is told, in the words of where they started the authorization."""

    again: str
    """How to start over, e.g. "run `cronofy-avail authorize` again"."""
    done_page: str
    """The browser's page once the tokens are kept."""
    where_next: str
    """Where the failure page sends the user, e.g. "The terminal running … says what to do
    next."."""
    busy_port: str
    """The fix when the listener's port is taken."""


CLI_WORDING = Wording(
    again="run `cronofy-avail authorize` again",
    done_page="Authorized: cronofy-avail has the tokens. You can close this tab.",
    where_next="The terminal running `cronofy-avail authorize` says what to do next.",
    busy_port="stop what uses the port, or pass --port with the port of another registered "
    "redirect URI (or use --paste)",
)


def code_from_redirect(url: str, expected_state: str, wording: Wording = CLI_WORDING) -> str:
    """The ``code`` of a redirect URL, after checking ``state`` (and reporting ``error``)."""
    text = url.strip()
    paste_whole = (
        "Fix: paste the whole URL the browser shows after allowing access (it starts with the "
        "redirect URI and contains ?code=…&state=…)."
    )
    if not text:
        raise CommandError(f"nothing was pasted; nothing was stored.\n{paste_whole}")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CommandError(
            f"what was pasted is not a URL (no http(s)://host); nothing was stored.\n{paste_whole}"
        )
    query = parse_qs(parts.query)

    def one(name: str) -> str | None:
        values = query.get(name)
        return values[0] if values else None

    # The state first, for an error too: a redirect that is not the answer to this run (an
    # old tab, someone else's link) must neither end it nor be believed.
    state = one("state")
    if state is None or not secrets.compare_digest(state, expected_state):
        raise StateMismatch(
            "the redirect's state does not match the one this run sent: it is not the answer "
            "to this authorization (an old tab, or someone else's link); nothing was stored.\n"
            f"Fix: {wording.again} and use the URL it prints."
        )
    error = one("error")
    if error:
        raise CommandError(
            f"Cronofy did not authorize: {error}"
            + (f" ({one('error_description')})" if one("error_description") else "")
            + f".\nFix: {wording.again} and allow the access asked for."
        )
    code = one("code")
    if not code:
        raise CommandError(
            "the redirect has no code.\nFix: paste the whole URL the browser shows after "
            "allowing access (it contains ?code=…&state=…)."
        )
    return code


class StateMismatch(CommandError):
    """A redirect that is not the answer to this run."""


def failure_page(exc: Exception, explained: str, wording: Wording = CLI_WORDING) -> web.Response:
    """What the browser hears when the code did not become kept tokens: a 4xx when what the
    browser brought was refused (the code) or conflicts with the store, a 502 when Cronofy
    refused the application or failed, a 500 otherwise. ``explained``: the (masked)
    explanation, of which the page shows the first line."""
    if isinstance(exc, AuthorizationCodeRefusedError):
        status = 400
    elif isinstance(exc, CommandError):
        status = 409
    elif isinstance(exc, CronofyError):
        status = 502
    else:
        status = 500
    reason = explained.splitlines()[0] if explained else "an unexpected error"
    return web.Response(
        status=status,
        text=(
            "Not authorized: cronofy-avail could not complete the authorization, and nothing "
            f"was stored.\nWhy: {reason}\n{wording.where_next}"
        ),
    )


async def _answer(request: web.Request, response: web.Response) -> web.Response:
    """Send ``response`` now, before the run ends and the listener closes; a browser that went
    away meanwhile changes nothing (the terminal or notebook says the outcome)."""
    with contextlib.suppress(ConnectionError):
        await response.prepare(request)
        await response.write_eof()
    return response


async def receive_redirect(
    port: int,
    expected_state: str,
    announce: asyncio.Future[str],
    complete: Complete[T],
    explain_failure: Callable[[Exception], str],
    arrived: Callable[[], None] = lambda: None,
    wording: Wording = CLI_WORDING,
) -> T:
    """Serve the callback on 127.0.0.1:``port`` until one redirect with the right state
    arrives, then ``complete`` its code before answering the browser: it hears "Authorized"
    only once the tokens are kept, and a failure page (with the reason the user is given)
    otherwise. ``announce`` gets the redirect URI once the listener is up (port 0: a free
    one); ``arrived`` is called when that redirect arrives (the wait for it is over)."""
    received: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    completing = False

    async def callback(request: web.Request) -> web.Response:
        nonlocal completing
        try:
            code = code_from_redirect(str(request.url), expected_state, wording)
        except StateMismatch:
            # Not our answer: keep waiting for the real one.
            return web.Response(status=400, text="Unexpected state; ignored.")
        except CommandError as exc:
            if not received.done():
                received.set_exception(exc)
            return web.Response(status=400, text=str(exc).splitlines()[0])
        if completing or received.done():
            return web.Response(
                status=409,
                text=f"This authorization is already being completed. {wording.where_next}",
            )
        completing = True
        arrived()
        try:
            result = await complete(code)
        except Exception as exc:  # each failure is the run's: the caller explains it
            response = await _answer(request, failure_page(exc, explain_failure(exc), wording))
            if not received.done():
                received.set_exception(exc)
            return response
        response = await _answer(request, web.Response(text=wording.done_page))
        if not received.done():
            received.set_result(result)
        return response

    app = web.Application()
    app.router.add_get(CALLBACK_PATH, callback)
    try:
        runner, base = await start_site(app, REDIRECT_HOST, port)
    except OSError as exc:
        raise CommandError(
            f"cannot listen on {REDIRECT_HOST}:{port} for the redirect "
            f"({exc.strerror or exc}).\nFix: {wording.busy_port}."
        ) from exc
    try:
        announce.set_result(f"{base}{CALLBACK_PATH}")
        return await received
    finally:
        await runner.cleanup()


__all__ = [
    "CALLBACK_PATH",
    "CLI_WORDING",
    "DEFAULT_PORT",
    "REDIRECT_URI",
    "Wording",
    "code_from_redirect",
    "failure_page",
    "receive_redirect",
    "redirect_uri",
]
