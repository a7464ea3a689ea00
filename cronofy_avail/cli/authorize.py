"""``cronofy-avail authorize``: the OAuth authorization-code flow, so the user's tokens have a
documented source.

It prints the authorization URL (and opens it where a desktop browser exists) with the scopes
the four steps need, receives the redirect on a listener at
``http://127.0.0.1:PORT/oauth/callback`` (the redirect URI to register in the Cronofy
application), or, with ``--paste``, reads the URL the browser was sent to. It checks ``state``,
exchanges the code, and keeps the tokens in the store (``0600``) as the user's credentials,
where ``setup`` finds them when ``CRONOFY_ACCESS_TOKEN`` is not set. Tokens are never printed.

The browser is answered after that, with what happened: "Authorized" once the tokens are
stored, a failure page (4xx/5xx, the terminal's reason, no secret) when the code was refused
(bogus, replayed, expired) or anything else failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sys
import webbrowser
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from cronofy_avail.app.explain import CommandError, explain
from cronofy_avail.app.settings import ENV_ACCESS_TOKEN, Settings
from cronofy_avail.cli.common import Runtime, credentials_of, emit, runtime
from cronofy_avail.cli.inputs import float_range, port_arg
from cronofy_avail.client.api import DEFAULT_SCOPES
from cronofy_avail.core.errors import AuthorizationCodeRefusedError, CronofyError
from cronofy_avail.core.models import TokenResponse
from cronofy_avail.runtime.serving import start_site
from cronofy_avail.runtime.store import StoredCredentials, UserRecord

CALLBACK_PATH = "/oauth/callback"
DEFAULT_PORT = 8765
DONE_PAGE = "Authorized: cronofy-avail has the tokens. You can close this tab."

T = TypeVar("T")


def add_authorize_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        type=port_arg,
        default=DEFAULT_PORT,
        help="port of the local listener; the redirect URI http://127.0.0.1:PORT"
        f"{CALLBACK_PATH} must be registered in your Cronofy application",
    )
    parser.add_argument(
        "--paste",
        action="store_true",
        help="no listener: paste the URL the browser was redirected to (any registered "
        "redirect URI, given with --redirect-uri)",
    )
    parser.add_argument(
        "--redirect-uri", help="the redirect URI with --paste (registered in the application)"
    )
    parser.add_argument(
        "--scope",
        default=" ".join(DEFAULT_SCOPES),
        help="the scopes to ask for (the four steps need the default ones)",
    )
    parser.add_argument("--login-hint", help="the user's email, pre-filled on the consent page")
    parser.add_argument(
        "--no-browser", action="store_true", help="print the URL only, do not open a browser"
    )
    parser.add_argument(
        "--timeout",
        type=float_range(0, inclusive=False),
        default=600.0,
        help="seconds to wait for the redirect",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace a stored user that belongs to another Cronofy account",
    )


def _has_desktop() -> bool:
    return sys.platform == "darwin" or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def code_from_redirect(url: str, expected_state: str) -> str:
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
        raise CommandError(
            "the redirect's state does not match the one this run sent: it is not the answer "
            "to this authorization (an old tab, or someone else's link); nothing was stored.\n"
            "Fix: run `cronofy-avail authorize` again and use the URL it prints."
        )
    error = one("error")
    if error:
        raise CommandError(
            f"Cronofy did not authorize: {error}"
            + (f" ({one('error_description')})" if one("error_description") else "")
            + ".\nFix: run `cronofy-avail authorize` again and allow the access asked for."
        )
    code = one("code")
    if not code:
        raise CommandError(
            "the redirect has no code.\nFix: paste the whole URL the browser shows after "
            "allowing access (it contains ?code=…&state=…)."
        )
    return code


Complete = Callable[[str], Awaitable[T]]
"""Exchange a code and store the tokens; what it returns is the run's result."""


def failure_page(exc: Exception, explained: str) -> web.Response:
    """What the browser hears when the code did not become stored tokens: a 4xx when what the
    browser brought was refused (the code) or conflicts with the store, a 502 when Cronofy
    refused the application or failed, a 500 otherwise. ``explained``: the terminal's
    (masked) explanation, of which the page shows the first line."""
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
            f"was stored.\nWhy: {reason}\nThe terminal running `cronofy-avail authorize` says "
            "what to do next."
        ),
    )


async def _answer(request: web.Request, response: web.Response) -> web.Response:
    """Send ``response`` now, before the run ends and the listener closes; a browser that went
    away meanwhile changes nothing (the terminal says the outcome)."""
    with contextlib.suppress(ConnectionError):
        await response.prepare(request)
        await response.write_eof()
    return response


async def _receive(
    port: int,
    expected_state: str,
    announce: asyncio.Future[str],
    complete: Complete[T],
    explain_failure: Callable[[Exception], str],
    arrived: Callable[[], None],
) -> T:
    """Serve the callback on 127.0.0.1 until one redirect with the right state arrives, then
    ``complete`` its code before answering the browser: it hears "Authorized" only once the
    tokens are stored, and a failure page (with the reason the terminal gives) otherwise.
    ``arrived`` is called when that redirect arrives (the wait for it is over)."""
    received: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    completing = False

    async def callback(request: web.Request) -> web.Response:
        nonlocal completing
        try:
            code = code_from_redirect(str(request.url), expected_state)
        except CommandError as exc:
            if "state does not match" in str(exc):
                # Not our answer: keep waiting for the real one.
                return web.Response(status=400, text="Unexpected state; ignored.")
            if not received.done():
                received.set_exception(exc)
            return web.Response(status=400, text=str(exc).splitlines()[0])
        if completing or received.done():
            return web.Response(
                status=409, text="This authorization is already being completed; see the terminal."
            )
        completing = True
        arrived()
        try:
            result = await complete(code)
        except Exception as exc:  # each failure is the run's: the terminal explains it
            response = await _answer(request, failure_page(exc, explain_failure(exc)))
            if not received.done():
                received.set_exception(exc)
            return response
        response = await _answer(request, web.Response(text=DONE_PAGE))
        if not received.done():
            received.set_result(result)
        return response

    app = web.Application()
    app.router.add_get(CALLBACK_PATH, callback)
    try:
        runner, base = await start_site(app, "127.0.0.1", port)
    except OSError as exc:
        raise CommandError(
            f"cannot listen on 127.0.0.1:{port} for the redirect ({exc.strerror or exc}).\n"
            "Fix: stop what uses the port, or pass --port with the port of another registered "
            "redirect URI (or use --paste)."
        ) from exc
    try:
        announce.set_result(f"{base}{CALLBACK_PATH}")
        return await received
    finally:
        await runner.cleanup()


@dataclass(frozen=True, slots=True)
class Authorized:
    tokens: TokenResponse
    sub: str | None


async def run_authorize(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    settings.require_app()  # before anything else: the missing variable is the first error
    if args.paste and not args.redirect_uri:
        raise CommandError(
            "--paste needs --redirect-uri: the redirect URI registered in your Cronofy "
            "application that the browser will be sent to."
        )
    state = secrets.token_urlsafe(24)
    async with runtime(settings, out) as rt:
        client = rt.system.client(access_token=None)
        extra = {"login_hint": args.login_hint} if args.login_hint else {}

        def show(redirect_uri: str) -> None:
            url = client.authorization_url(redirect_uri, scope=args.scope, state=state, **extra)
            emit(rt.out, "Open this URL in a browser and allow access:")
            emit(rt.out, f"  {url}")
            emit(rt.out, f"Redirect URI (register it in your Cronofy application): {redirect_uri}")
            if not args.no_browser and _has_desktop():
                with contextlib.suppress(Exception):
                    webbrowser.open(url)

        async def complete(code: str, redirect_uri: str) -> Authorized:
            """Exchange the code and store the tokens: the whole of a successful answer."""
            tokens = await client.exchange_code(code, redirect_uri)
            credentials = credentials_of(client)
            assert credentials is not None
            rt.out.add_secret(credentials.access_token)
            rt.out.add_secret(credentials.refresh_token)
            sub = tokens.sub or tokens.account_id
            await _store(rt, settings, credentials, sub, force=args.force)
            return Authorized(tokens, sub)

        def explain_failure(exc: Exception) -> str:
            return rt.out.mask(explain(exc, settings).message)

        try:
            async with asyncio.timeout(args.timeout) as deadline:
                if args.paste:
                    redirect_uri = args.redirect_uri
                    show(redirect_uri)
                    emit(rt.out, "Then paste here the URL the browser was sent to:")
                    line = await asyncio.to_thread(sys.stdin.readline)
                    code = code_from_redirect(line, state)
                    deadline.reschedule(None)  # the wait is over; the exchange has its own
                    done = await complete(code, redirect_uri)
                else:
                    announced: asyncio.Future[str] = asyncio.get_running_loop().create_future()
                    receiving = asyncio.ensure_future(
                        _receive(
                            args.port,
                            state,
                            announced,
                            lambda code: complete(code, announced.result()),
                            explain_failure,
                            lambda: deadline.reschedule(None),
                        )
                    )
                    first: set[asyncio.Future[Any]] = {announced, receiving}
                    await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
                    if not announced.done():
                        await receiving  # raises why the listener could not start
                    show(announced.result())
                    emit(rt.out, "Waiting for the redirect... (Ctrl-C stops)")
                    done = await receiving
        except TimeoutError:
            raise CommandError(
                f"no redirect within {args.timeout:g}s; nothing was stored.\n"
                "Fix: run `cronofy-avail authorize` again (or --paste the redirected URL)."
            ) from None
        finally:
            await client.close()
        emit(
            rt.out,
            f"Authorized Cronofy account {done.sub or '(not reported)'} with the scopes "
            f"{done.tokens.scope or args.scope!r}.",
        )
        emit(
            rt.out,
            f"Tokens stored for user {settings.user_id!r} in {settings.db_path} (0600); they "
            "are never printed.",
        )
        if settings.access_token:
            exported = ENV_ACCESS_TOKEN in os.environ or settings.env_file is None
            where = "exported in the environment" if exported else f"set in {settings.env_file}"
            fix = (
                "unset it (and CRONOFY_REFRESH_TOKEN)"
                if exported
                else "remove it (and CRONOFY_REFRESH_TOKEN) from that file"
            )
            emit(
                rt.out,
                f"note: {ENV_ACCESS_TOKEN} is {where}, and `setup` uses it before the stored "
                f"tokens: {fix} to use these.",
            )
        emit(rt.out, "Next: run `cronofy-avail setup`.")
    return 0


async def _store(
    rt: Runtime,
    settings: Settings,
    credentials: StoredCredentials,
    sub: str | None,
    *,
    force: bool,
) -> None:
    """Keep the tokens as the user's, unless the stored user is another account's."""
    user = await rt.store.get_user(settings.user_id)
    if user is not None:
        rt.remember(user)
        if user.sub and sub and user.sub != sub and not force:
            raise CommandError(
                f"user {user.user_id!r} in {settings.db_path} belongs to Cronofy account "
                f"{user.sub}, but this authorization is for {sub}; nothing was stored.\n"
                "Fix: pass --user with another user id, or run `cronofy-avail teardown` "
                "first (--force replaces the stored user)."
            )
        if user.sub != sub:
            await rt.store.delete_user(user.user_id)
            user = None
    if user is None:
        await rt.store.save_user(UserRecord(settings.user_id, credentials=credentials, sub=sub))
    else:
        await rt.store.save_credentials(user.user_id, credentials)


__all__ = ["CALLBACK_PATH", "add_authorize_arguments", "code_from_redirect", "run_authorize"]
