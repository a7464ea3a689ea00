"""The emulator's aiohttp application: thin handlers over :class:`~.state.EmulatorState`.

One middleware applies, in order: fault injection and the per-application rate limit (Cronofy
paths only), the handler, Cronofy-shaped error answers, and the request log (which never holds
a credential: ``Authorization`` is redacted and bodies are not kept).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDict

from cronofy_avail.core.browser import SAFE_METHODS, is_cross_site, unexpected_host
from cronofy_avail.core.models import format_time
from cronofy_avail.emulator.config import EmulatorConfig
from cronofy_avail.emulator.control import add_control_routes
from cronofy_avail.emulator.faults import FaultInjector, RateLimit
from cronofy_avail.emulator.http import (
    ACCOUNT_ID,
    SERVICES,
    RequestLog,
    Services,
    accepted,
    authenticate,
    base_url,
    bearer,
    error_response,
    json_response,
    query,
    read_json,
    services,
)
from cronofy_avail.emulator.notifications import Notifier
from cronofy_avail.emulator.state import EmulatorState, parse_form
from cronofy_avail.emulator.validation import ApiError

_LOGGER = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_REDACTED = "[redacted]"
_SECRET_QUERY_NAMES = ("token", "secret", "code", "password")


def _endpoint(request: web.Request) -> str:
    info = request.match_info
    route = info.route if info is not None else None
    resource = route.resource if route is not None else None
    path = resource.canonical if resource is not None else request.path
    if path != "/":
        path = path.rstrip("/")
    return f"{request.method} {path}"


def _redact_query(request: web.Request) -> str:
    items = [
        (k, _REDACTED if any(s in k.lower() for s in _SECRET_QUERY_NAMES) else v)
        for k, v in request.query.items()
    ]
    return urlencode(items)


def _is_cronofy(path: str) -> bool:
    return not path.startswith("/_emulator")


# --------------------------------------------------------------------------- middleware


@web.middleware
async def body_in_time(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Read the whole body (at most ``client_max_size``) within ``body_timeout`` seconds
    before anything else: a client that announces a body and stalls gets 408 and its
    connection closed, instead of holding it (and a file) for as long as it likes."""
    if request.can_read_body:
        try:
            async with asyncio.timeout(services(request).config.body_timeout):
                await request.read()
        except TimeoutError:
            response = web.json_response({"error": "the request body did not arrive"}, status=408)
            response.force_close()
            await response.prepare(request)
            await response.write_eof()
            if request.transport is not None:
                request.transport.close()  # no lingering for the rest of a body never sent
            return response
    return await handler(request)


@web.middleware
async def browser_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse what a web page in the user's browser could send to the control API: a request
    naming a host the emulator does not answer for (DNS rebinding: the page would read the
    client secret), and a cross-site request that would change state (``POST
    /_emulator/reset`` from another tab). The Cronofy paths answer any host name, as Cronofy
    does: they need a bearer token, which no web page has."""
    if _is_cronofy(request.path):
        return await handler(request)
    config = services(request).config
    if unexpected_host(request.host, config.allowed_hosts):
        return web.json_response({"error": "forbidden: unexpected Host"}, status=403)
    if request.method not in SAFE_METHODS and is_cross_site(request.headers, request.host):
        return web.json_response({"error": "forbidden: cross-site request"}, status=403)
    return await handler(request)


@web.middleware
async def emulator_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    svc = services(request)
    status = 500
    dropped = False
    try:
        try:
            if _is_cronofy(request.path):
                admitted: bool | None = None
                if svc.faults.holds(request.method, request.path):
                    # A gate (``hold``) parks the request before anything else is decided;
                    # counted and read on arrival, as for latency below.
                    admitted = svc.rate_limit.admit()
                    if request.can_read_body:
                        await request.read()
                    await svc.faults.park(request.method, request.path)
                decision = svc.faults.decide(request.method, request.path)
                if decision.latency > 0:
                    # Counted on arrival, as Cronofy counts what it receives: an injected
                    # (server-side) latency must not move a request into a later window.
                    if admitted is None:
                        admitted = svc.rate_limit.admit()
                    # Read the whole request first, as Cronofy has it once the client has sent
                    # it: a client that gives up or dies during the latency still has its write
                    # applied (the "written at Cronofy, unknown to us" state fault tests need).
                    if request.can_read_body:
                        await request.read()
                    await asyncio.sleep(decision.latency)
                if decision.drop:
                    dropped = True
                    status = 0
                    if request.transport is not None:
                        request.transport.abort()
                    return web.Response(status=500)
                if decision.status is not None:
                    headers = {}
                    if decision.retry_after is not None:
                        headers["Retry-After"] = _seconds(decision.retry_after)
                    raise ApiError(decision.status, headers=headers, reason="injected fault")
                if admitted is None:
                    admitted = svc.rate_limit.admit()
                if not admitted:
                    headers = {}
                    if svc.rate_limit.retry_after is not None:
                        headers["Retry-After"] = _seconds(svc.rate_limit.retry_after)
                    raise ApiError(429, headers=headers, reason="rate limited")
            response = await handler(request)
        except ApiError as exc:
            response = error_response(exc)
        except web.HTTPException as exc:
            status = exc.status
            raise
        except Exception:
            _LOGGER.exception("emulator handler failed: %s", _endpoint(request))
            response = web.Response(status=500)
        status = response.status
        return response
    finally:
        endpoint = _endpoint(request)
        svc.log.add(
            {
                "at": format_time(svc.state.clock()),
                "method": request.method,
                "path": request.path,
                "query": _redact_query(request),
                "endpoint": endpoint,
                "status": status,
                "dropped": dropped,
                "account_id": request.get(ACCOUNT_ID),
                "authorization": _REDACTED if "Authorization" in request.headers else None,
            }
        )
        _LOGGER.debug("%s -> %s", endpoint, status)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# --------------------------------------------------------------------------- identity


async def get_profiles(request: web.Request) -> web.Response:
    account = authenticate(request)
    return json_response(services(request).state.profiles(account, base_url(request)))


async def get_userinfo(request: web.Request) -> web.Response:
    account = authenticate(request)
    return json_response(services(request).state.userinfo(account, base_url(request)))


async def get_account(request: web.Request) -> web.Response:
    account = authenticate(request)
    state = services(request).state
    state.require_scope(account, "read_account")
    return json_response(state.account_json(account))


# --------------------------------------------------------------------------- calendars


async def list_calendars(request: web.Request) -> web.Response:
    account = authenticate(request)
    state = services(request).state
    state.require_scope(account, "list_calendars")
    return json_response(state.list_calendars(account))


async def create_calendar(request: web.Request) -> web.Response:
    account = authenticate(request)
    return json_response(services(request).state.create_calendar(account, await read_json(request)))


async def upsert_event(request: web.Request) -> web.Response:
    account = authenticate(request)
    services(request).state.upsert_managed_event(
        account, request.match_info["calendar_id"], await read_json(request)
    )
    return accepted()


async def bulk_delete_events(request: web.Request) -> web.Response:
    account = authenticate(request)
    services(request).state.bulk_delete_events(account, await read_json(request))
    return accepted()


async def delete_event(request: web.Request) -> web.Response:
    account = authenticate(request)
    services(request).state.delete_managed_event(
        account, request.match_info["calendar_id"], await read_json(request)
    )
    return accepted()


# --------------------------------------------------------------------------- channels


async def create_channel(request: web.Request) -> web.Response:
    state = services(request).state
    account, token = state.authenticate(bearer(request))
    request[ACCOUNT_ID] = account.account_id
    return json_response(state.create_channel(account, token, await read_json(request)))


async def list_channels(request: web.Request) -> web.Response:
    account = authenticate(request)
    return json_response(services(request).state.list_channels(account))


async def close_channel(request: web.Request) -> web.Response:
    account = authenticate(request)
    services(request).state.close_channel(account, request.match_info["channel_id"])
    return accepted()


# --------------------------------------------------------------------------- events


async def read_events(request: web.Request) -> web.Response:
    account = authenticate(request)
    state = services(request).state
    return json_response(state.read_events(account, query(request), base_url(request)))


async def events_page(request: web.Request) -> web.Response:
    account = authenticate(request)
    state = services(request).state
    state.require_scope(account, "read_events")
    page = state.next_page(account, "events", request.match_info["token"], base_url(request))
    return json_response(page)


# --------------------------------------------------------------------------- available periods


async def upsert_period(request: web.Request) -> web.Response:
    account = authenticate(request)
    services(request).state.upsert_period(account, await read_json(request))
    return accepted()


async def list_periods(request: web.Request) -> web.Response:
    account = authenticate(request)
    state = services(request).state
    return json_response(state.list_periods(account, query(request), base_url(request)))


async def periods_page(request: web.Request) -> web.Response:
    account = authenticate(request)
    state = services(request).state
    token = request.match_info["token"]
    return json_response(state.next_page(account, "available_periods", token, base_url(request)))


async def delete_period(request: web.Request) -> web.Response:
    account = authenticate(request)
    services(request).state.delete_period(account, await read_json(request))
    return accepted()


async def batch(request: web.Request) -> web.Response:
    account = authenticate(request)
    return json_response(services(request).state.batch(account, await read_json(request)), 207)


# --------------------------------------------------------------------------- availability


async def availability(request: web.Request) -> web.Response:
    state = services(request).state
    application = state.application_for_secret(bearer(request))
    if application is not None:
        client_id = application.client_id
    else:  # or an account's access token (older docs and SDKs): its application asks
        client_id = authenticate(request).client_id
    return json_response(state.availability(await read_json(request), client_id=client_id))


# --------------------------------------------------------------------------- oauth


async def oauth_token(request: web.Request) -> web.Response:
    state = services(request).state
    raw = await request.read()
    body: dict[str, Any]
    if request.content_type == "application/x-www-form-urlencoded":
        body = dict(parse_form(raw))
    else:
        try:
            decoded = json.loads(raw) if raw.strip() else {}
        except ValueError:
            decoded = parse_form(raw)
        body = decoded if isinstance(decoded, dict) else {}
    basic = _basic_credentials(request)
    try:
        answer = state.token_request(body, basic)
    except ApiError as exc:
        return error_response(exc)
    if "account_id" in answer:
        request[ACCOUNT_ID] = str(answer["account_id"])
    response = json_response(answer)
    # RFC 6749 §5.1 and Cronofy's token examples: never cached.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _basic_credentials(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None  # SDKs send a Bearer header here too: ignored
    try:
        user, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
    except ValueError:
        return None
    return user, password


async def oauth_authorize(request: web.Request) -> web.Response:
    """Auto-consent authorization page: signs up a new account (or ``login_hint``'s, when it
    already authorized this application) for the application ``client_id`` and redirects to
    ``redirect_uri`` with a code, as Cronofy does after the user agrees."""
    state = services(request).state
    params = request.query
    redirect_uri = params.get("redirect_uri")
    client_id = params.get("client_id", "")
    if client_id not in state.applications or not redirect_uri:
        return web.Response(status=400, text="unknown client_id or missing redirect_uri")
    if params.get("response_type", "code") != "code":
        return web.Response(status=400, text="response_type must be code")
    hint = params.get("login_hint")
    account = next(
        (
            a
            for a in state.accounts.values()
            if hint and a.email == hint and a.client_id == client_id
        ),
        None,
    )
    if account is None:
        created = state.create_account(
            email=hint or None, scope=params.get("scope") or None, client_id=client_id
        )
        account = state.accounts[created.account_id]
    code = state.authorization_code(account, redirect_uri)
    answer: MultiDict[str] = MultiDict(code=code)
    if "state" in params:
        answer["state"] = params["state"]
    separator = "&" if "?" in redirect_uri else "?"
    raise web.HTTPFound(f"{redirect_uri}{separator}{urlencode(list(answer.items()))}")


async def oauth_relink(request: web.Request) -> web.Response:
    """The ``profile_relink_url`` of a disconnected profile: visiting it reconnects it."""
    state = services(request).state
    state.set_profile(request.match_info["profile_id"], connected=True)
    return web.Response(text="Profile reconnected. You can close this page.")


# --------------------------------------------------------------------------- assembly


def _add(app: web.Application, method: str, path: str, handler: Handler) -> None:
    """Register ``path`` and ``path/`` (SDKs add a trailing slash)."""
    app.router.add_route(method, path, handler)
    app.router.add_route(method, path + "/", handler)


def create_app(
    state: EmulatorState | None = None,
    *,
    config: EmulatorConfig | None = None,
    notifier: Notifier | None = None,
) -> web.Application:
    """The emulator as an aiohttp application (serve it with ``AppRunner``/``TCPSite``).

    The notifier's HTTP session is opened on startup and every delivery task is cancelled
    and awaited on cleanup.
    """
    config = config or (state.config if state is not None else EmulatorConfig())
    state = state or EmulatorState(config)
    notifier = notifier or Notifier(state, config)
    svc = Services(
        state=state,
        notifier=notifier,
        faults=FaultInjector(config.fault_seed),
        rate_limit=RateLimit(
            enabled=config.rate_limit_enabled,
            per_second=config.rate_limit_per_second,
            per_minute=config.rate_limit_per_minute,
            retry_after=config.rate_limit_retry_after,
        ),
        log=RequestLog(config.request_log_size),
        config=config,
    )
    app = web.Application(
        middlewares=[body_in_time, browser_guard, emulator_middleware], client_max_size=1024 * 1024
    )
    app[SERVICES] = svc

    async def date_from_the_emulator_clock(
        request: web.Request, response: web.StreamResponse
    ) -> None:
        # Cronofy's ``Date`` is Cronofy's clock: the sync takes its watermark from it, so an
        # emulator on a controlled clock must answer with that clock, not the machine's.
        response.headers["Date"] = format_datetime(state.clock().astimezone(UTC), usegmt=True)

    app.on_response_prepare.append(date_from_the_emulator_clock)
    _add(app, "GET", "/v1/profiles", get_profiles)
    _add(app, "GET", "/v1/userinfo", get_userinfo)
    _add(app, "GET", "/v1/account", get_account)
    _add(app, "GET", "/v1/calendars", list_calendars)
    _add(app, "POST", "/v1/calendars", create_calendar)
    _add(app, "POST", "/v1/calendars/{calendar_id}/events", upsert_event)
    _add(app, "DELETE", "/v1/calendars/{calendar_id}/events", delete_event)
    _add(app, "GET", "/v1/channels", list_channels)
    _add(app, "POST", "/v1/channels", create_channel)
    _add(app, "DELETE", "/v1/channels/{channel_id}", close_channel)
    _add(app, "GET", "/v1/events", read_events)
    _add(app, "DELETE", "/v1/events", bulk_delete_events)
    _add(app, "GET", "/v1/events/pages/{token}", events_page)
    _add(app, "GET", "/v1/available_periods", list_periods)
    _add(app, "POST", "/v1/available_periods", upsert_period)
    _add(app, "DELETE", "/v1/available_periods", delete_period)
    _add(app, "GET", "/v1/available_periods/pages/{token}", periods_page)
    _add(app, "POST", "/v1/batch", batch)
    _add(app, "POST", "/v1/availability", availability)
    _add(app, "POST", "/oauth/token", oauth_token)
    _add(app, "GET", "/oauth/authorize", oauth_authorize)
    _add(app, "GET", "/oauth/relink/{profile_id}", oauth_relink)
    if config.control_api:
        add_control_routes(app)

    async def on_startup(_: web.Application) -> None:
        await notifier.start()

    async def on_cleanup(_: web.Application) -> None:
        await notifier.stop()

    async def on_shutdown(_: web.Application) -> None:
        # Runs before the server waits for its running handlers: a request parked by a
        # ``hold`` fault must go on, or stopping would wait for it until the timeout.
        svc.faults.release_all()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app
