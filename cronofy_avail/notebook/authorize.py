"""Step 0's Authorize button (real Cronofy): the application it authorizes for, and the
redirect listener shared with ``cronofy-avail authorize`` that turns Cronofy's redirect into
tokens. The wizard keeps the tokens (hidden) and connects with them."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

from cronofy_avail.app.explain import CommandError
from cronofy_avail.app.oauth import receive_redirect
from cronofy_avail.app.settings import Settings
from cronofy_avail.app.system import build_client, for_app
from cronofy_avail.client.api import DEFAULT_SCOPES
from cronofy_avail.core.models import TokenResponse
from cronofy_avail.notebook.explaining import NOTEBOOK_WORDING
from cronofy_avail.notebook.steps import _Secrets


def application(settings: Settings, typed: _Secrets, data_center: str) -> tuple[str, str, Settings]:
    """The client id and secret to authorize with (typed, else configured) and the settings
    that talk to Cronofy as that application; a :class:`CommandError` saying what to set
    when either is missing."""
    client_id = typed.client_id or settings.client_id
    known = settings.client_secrets
    client_secret = typed.client_secret or (known[0] if known else None)
    if not client_id or not client_secret:
        raise CommandError(
            "Authorize needs the application's CRONOFY_CLIENT_ID and CRONOFY_CLIENT_SECRET "
            f"({settings.env_note()}).\nFix: put them in .env or the environment, or type "
            "them in the password fields first."
        )
    app_settings = for_app(
        settings,
        client_id=client_id,
        client_secret=client_secret,
        api_base_url=settings.api_base_url,
        data_center=data_center,
    )
    return client_id, client_secret, app_settings


async def start_redirect(
    app_settings: Settings,
    port: int,
    *,
    listening: Callable[[asyncio.Task[None]], None],
    on_tokens: Callable[[TokenResponse], None],
    explain: Callable[[Exception], str],
    ended: Callable[[asyncio.Task[None]], None],
) -> tuple[str, str]:
    """Start the redirect listener on ``port`` (handed to ``listening`` as soon as it runs, so
    that it can be stopped) and return (the page to open at Cronofy, the redirect URI). The
    code the redirect brings is exchanged for tokens, given to ``on_tokens``, before the
    browser hears "Authorized"; the listener task then ends, and ``ended`` is called with it
    (not when it could not start: then this raises why)."""
    expected_state = secrets.token_urlsafe(24)
    announced: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def complete(code: str) -> None:
        async with build_client(app_settings) as client:
            tokens = await client.exchange_code(code, announced.result())
        on_tokens(tokens)

    task = asyncio.ensure_future(
        receive_redirect(
            port, expected_state, announced, complete, explain, wording=NOTEBOOK_WORDING
        )
    )
    listening(task)
    first: set[asyncio.Future[Any]] = {announced, task}
    await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
    if not announced.done():
        await task  # raises why the listener could not start
    task.add_done_callback(ended)
    async with build_client(app_settings) as client:
        url = client.authorization_url(
            announced.result(), state=expected_state, scope=" ".join(DEFAULT_SCOPES)
        )
    return url, announced.result()


__all__ = ["application", "start_redirect"]
