"""Step 0's Authorize button (real Cronofy): the application it authorizes for, and the
redirect listener shared with ``cronofy-avail authorize`` that turns Cronofy's redirect into
tokens. The wizard keeps the tokens (hidden) and connects with them."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cronofy_avail.app.explain import CommandError
from cronofy_avail.app.oauth import receive_redirect
from cronofy_avail.app.settings import Settings
from cronofy_avail.app.system import build_client, for_app
from cronofy_avail.client.api import DEFAULT_SCOPES
from cronofy_avail.core.models import TokenResponse
from cronofy_avail.notebook.explaining import NOTEBOOK_WORDING
from cronofy_avail.notebook.steps import _Secrets

if TYPE_CHECKING:
    from cronofy_avail.notebook.host import WizardHost


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


class Authorizer:
    """Step 0's Authorize flow for one wizard: what it says lives in the connect step's model
    (``authorization``, ``authorize_url``, ``oauth_pending``), the tokens in the wizard's
    secrets (never shown)."""

    def __init__(self, wizard: WizardHost) -> None:
        self._wizard = wizard
        self._task: asyncio.Task[None] | None = None
        self.authorized = asyncio.Event()

    @property
    def pending(self) -> bool:
        """A redirect listener waits for Cronofy to come back."""
        return self._task is not None and not self._task.done()

    async def url(self) -> str:
        """Start the redirect listener and return the page to open.

        The same listener and redirect URI as ``cronofy-avail authorize``
        (``http://127.0.0.1:8765/oauth/callback``: register that one in the Cronofy
        application). The user signs in and agrees at Cronofy, which redirects there with a
        code; the code is exchanged for tokens before the browser hears "Authorized", the
        tokens are kept with the other secrets, and the wizard connects.
        """
        w = self._wizard
        settings = w._settings()
        data_center = w.inputs.data_center or settings.data_center
        client_id, client_secret, app_settings = application(settings, w.secrets, data_center)
        await self.stop()
        self.authorized.clear()
        model = w.model.connect

        def tokens_received(tokens: TokenResponse) -> None:
            w.secrets.client_id, w.secrets.client_secret = client_id, client_secret
            w.secrets.access_token = tokens.access_token
            w.secrets.refresh_token = tokens.refresh_token
            model.authorization = "Authorized: tokens received and kept hidden. Connecting…"
            self.authorized.set()
            model.oauth_pending = False
            w.invalidate("connect")

        def listening(task: asyncio.Task[None]) -> None:
            self._task = task

        url, redirect_uri = await start_redirect(
            app_settings, w.inputs.redirect_port, listening=listening,
            on_tokens=tokens_received, explain=w._explain, ended=self._ended,
        )  # fmt: skip
        model.authorization = (
            f"Open the link, sign in and agree; Cronofy returns to {redirect_uri} "
            "(the redirect URI registered in your Cronofy application)."
        )
        model.authorize_url, model.oauth_pending = url, self.pending
        w._changed()
        return url

    def _ended(self, task: asyncio.Task[None]) -> None:
        """The redirect came back: connect with the tokens, or say why there are none."""
        if task.cancelled() or task is not self._task:
            return
        self._task = None
        w = self._wizard
        model = w.model.connect
        model.oauth_pending = False
        exc = task.exception()
        if exc is None:
            w.spawn(w.run_step("connect"), step="connect")
            return
        model.authorization = w._explain(exc)
        model.error = model.authorization
        w._changed()

    async def done(self) -> None:
        """Wait until the pending authorization (and the connect it starts) ended."""
        task = self._task
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        await self._wizard.wait_tasks()

    async def stop(self) -> None:
        task, self._task = self._task, None
        self._wizard.model.connect.oauth_pending = False
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


__all__ = ["Authorizer", "application", "start_redirect"]
