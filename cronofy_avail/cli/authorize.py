"""``cronofy-avail authorize``: the OAuth authorization-code flow, so the user's tokens have a
documented source.

It prints the authorization URL (and opens it where a desktop browser exists) with the scopes
the four steps need, receives the redirect on a listener at
``http://127.0.0.1:8765/oauth/callback`` (the redirect URI to register in the Cronofy
application, the notebook wizard's too: :mod:`cronofy_avail.app.oauth` serves both), or, with
``--paste``, reads the URL the browser was sent to. It checks ``state``,
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
from dataclasses import dataclass
from typing import Any, TextIO

from cronofy_avail.app.explain import CommandError, explain
from cronofy_avail.app.oauth import (
    CALLBACK_PATH,
    CLI_WORDING,
    DEFAULT_PORT,
    code_from_redirect,
    receive_redirect,
)
from cronofy_avail.app.settings import ENV_ACCESS_TOKEN, Settings
from cronofy_avail.cli.common import Runtime, credentials_of, emit, runtime
from cronofy_avail.cli.inputs import float_range, port_arg
from cronofy_avail.client.api import DEFAULT_SCOPES
from cronofy_avail.core.models import TokenResponse
from cronofy_avail.runtime.store import StoredCredentials, UserRecord


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
    async with runtime(settings, out, store="create") as rt:
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
                        receive_redirect(
                            args.port,
                            state,
                            announced,
                            lambda code: complete(code, announced.result()),
                            explain_failure,
                            lambda: deadline.reschedule(None),
                            CLI_WORDING,
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
