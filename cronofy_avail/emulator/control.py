"""The control API under ``/_emulator/…``: play the user and the instructor over HTTP.

No credentials of its own (a local tool), but guarded against web pages (``app.browser_guard``:
DNS rebinding, cross-site requests); the workshop adds who may do what
(:mod:`cronofy_avail.workshop.classroom`). Never mounted on a Cronofy path. Every route is
listed in ``docs/reference/emulator.md``.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from aiohttp import web

from cronofy_avail.emulator.faults import parse_rule
from cronofy_avail.emulator.http import Services, base_url, json_response, read_json, services
from cronofy_avail.emulator.state import ChannelRecord, Json
from cronofy_avail.emulator.validation import ApiError, Errors, parse_bool, unprocessable

PREFIX = "/_emulator"


def _channel_json(channel: ChannelRecord) -> Json:
    out = channel.json()
    out.update(
        account_id=channel.account_id,
        active=channel.active,
        closed_reason=channel.closed_reason,
        deliveries=[asdict(d) for d in channel.deliveries],
    )
    return out


def info(svc: Services, url: str) -> Json:
    state = svc.state
    return {
        "base_url": url,
        "client_id": state.client_id,
        "client_secret": state.client_secret,
        "active_client_secrets": len(state.client_secrets),
        "settings": settings_json(svc),
        "rate_limit": svc.rate_limit.json(),
        "accounts": len(state.accounts),
    }


def settings_json(svc: Services) -> Json:
    n = svc.notifier
    return {
        "page_size": svc.state.page_size,
        "access_token_ttl": svc.state.access_token_ttl,
        "rotate_refresh_tokens": svc.state.rotate_refresh_tokens,
        "debounce": n.debounce,
        "delivery_timeout": n.delivery_timeout,
        "retry_initial_delay": n.retry_initial_delay,
        "retry_max_delay": n.retry_max_delay,
        "retry_backoff": n.retry_backoff,
        "failure_window": n.failure_window,
        "own_changes_count": svc.state.config.own_changes_count,
    }


def _apply_settings(svc: Services, body: Json) -> None:
    errors = Errors()
    positive_ints = {"page_size", "access_token_ttl"}
    seconds = {
        "debounce",
        "delivery_timeout",
        "retry_initial_delay",
        "retry_max_delay",
        "retry_backoff",
        "failure_window",
    }
    for name, value in body.items():
        if name in positive_ints:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                errors.invalid(name, f"{name} must be a positive integer")
            else:
                setattr(svc.state, name, value)
        elif name in seconds:
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                errors.invalid(name, f"{name} must be a non-negative number of seconds")
            else:
                setattr(svc.notifier, name, float(value))
        elif name == "rotate_refresh_tokens":
            flag = parse_bool(value)
            if flag is None:
                errors.invalid(name, f"{name} must be true or false")
            else:
                svc.state.rotate_refresh_tokens = flag
        else:
            errors.invalid(name, f"unknown setting {name}")
    errors.raise_if_any()


def _optional_str(body: Json, name: str, errors: Errors) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        errors.invalid(name, f"{name} must be a string")
        return None
    return value


# --------------------------------------------------------------------------- handlers


async def get_info(request: web.Request) -> web.Response:
    return json_response(info(services(request), base_url(request)))


async def create_account(request: web.Request) -> web.Response:
    body = await read_json(request)
    errors = Errors()
    kwargs: dict[str, Any] = {}
    for name in (
        "email",
        "name",
        "tzid",
        "provider_name",
        "provider_service",
        "token_kind",
        "client_id",
    ):
        value = _optional_str(body, name, errors)
        if value is not None:
            kwargs[name] = value
    scope = body.get("scope")
    if scope is not None:
        if isinstance(scope, str) or (
            isinstance(scope, list) and all(isinstance(s, str) for s in scope)
        ):
            kwargs["scope"] = scope
        else:
            errors.invalid("scope", "scope must be a space-separated string or a list")
    calendars = body.get("calendars", [])
    if not isinstance(calendars, list) or not all(isinstance(c, str) for c in calendars):
        errors.invalid("calendars", "calendars must be a list of names")
    else:
        kwargs["calendars"] = calendars
    for flag in ("can_create_calendars", "allows_duplicate_calendar_names"):
        if flag in body:
            parsed = parse_bool(body[flag])
            if parsed is None:
                errors.invalid(flag, f"{flag} must be true or false")
            else:
                kwargs[flag] = parsed
    unknown = set(body) - {
        "email",
        "name",
        "tzid",
        "provider_name",
        "provider_service",
        "token_kind",
        "scope",
        "calendars",
        "can_create_calendars",
        "allows_duplicate_calendar_names",
        "client_id",
    }
    for name in sorted(unknown):
        errors.invalid(name, f"unknown field {name}")
    errors.raise_if_any()
    created = services(request).state.create_account(**kwargs)
    return json_response(created.json(), status=201)


async def list_accounts(request: web.Request) -> web.Response:
    state = services(request).state
    return json_response({"accounts": [state.account_summary(a) for a in state.accounts.values()]})


async def get_account(request: web.Request) -> web.Response:
    state = services(request).state
    return json_response(state.account_summary(state.account(request.match_info["account_id"])))


async def new_tokens(request: web.Request) -> web.Response:
    state = services(request).state
    account = state.account(request.match_info["account_id"])
    access, refresh = state.issue_tokens(account)
    return json_response(
        {
            "account_id": account.account_id,
            "sub": account.account_id,
            "access_token": access.token,
            "refresh_token": refresh.token,
            "token_type": "bearer",
            "expires_in": state.access_token_ttl,
            "scope": account.scope,
        },
        status=201,
    )


async def authorization_code(request: web.Request) -> web.Response:
    state = services(request).state
    account = state.account(request.match_info["account_id"])
    body = await read_json(request)
    redirect_uri = body.get("redirect_uri")
    if not isinstance(redirect_uri, str) or not redirect_uri:
        raise ApiError(
            422, {"errors": {"redirect_uri": [{"key": "errors.required", "description": "-"}]}}
        )
    return json_response({"code": state.authorization_code(account, redirect_uri)}, status=201)


async def patch_profile(request: web.Request) -> web.Response:
    body = await read_json(request)
    errors = Errors()
    values: dict[str, bool] = {}
    for name in ("connected", "locked"):
        if name in body:
            parsed = parse_bool(body[name])
            if parsed is None:
                errors.invalid(name, f"{name} must be true or false")
            else:
                values[name] = parsed
    errors.raise_if_any()
    state = services(request).state
    return json_response(
        state.set_profile(request.match_info["profile_id"], base_url=base_url(request), **values)
    )


async def disconnect_profile(request: web.Request) -> web.Response:
    state = services(request).state
    profile_id = request.match_info["profile_id"]
    return json_response(state.set_profile(profile_id, connected=False, base_url=base_url(request)))


async def reconnect_profile(request: web.Request) -> web.Response:
    state = services(request).state
    return json_response(state.set_profile(request.match_info["profile_id"], connected=True))


async def add_calendar(request: web.Request) -> web.Response:
    body = await read_json(request)
    name = body.get("name")
    color = body.get("color")
    if not isinstance(name, str) or not name:
        raise ApiError(
            422, {"errors": {"name": [{"key": "errors.required", "description": "name"}]}}
        )
    state = services(request).state
    calendar = state.add_calendar(
        request.match_info["profile_id"], name, color=color if isinstance(color, str) else None
    )
    return json_response({"calendar": calendar}, status=201)


async def delete_calendar(request: web.Request) -> web.Response:
    state = services(request).state
    return json_response({"calendar": state.delete_calendar(request.match_info["calendar_id"])})


async def calendar_events(request: web.Request) -> web.Response:
    state = services(request).state
    return json_response({"events": state.calendar_events(request.match_info["calendar_id"])})


async def add_events(request: web.Request) -> web.Response:
    state = services(request).state
    events = state.external_add_events(request.match_info["calendar_id"], await read_json(request))
    return json_response({"events": events}, status=201)


async def update_event(request: web.Request) -> web.Response:
    state = services(request).state
    event = state.external_update_event(request.match_info["event_uid"], await read_json(request))
    return json_response({"event": event})


async def delete_event(request: web.Request) -> web.Response:
    state = services(request).state
    return json_response({"event": state.external_delete_event(request.match_info["event_uid"])})


async def delete_series(request: web.Request) -> web.Response:
    state = services(request).state
    events = state.external_delete_series(request.match_info["series_identifier"])
    return json_response({"events": events})


async def rotate_secret(request: web.Request) -> web.Response:
    body = await read_json(request)
    keep = parse_bool(body.get("keep_previous", True))
    state = services(request).state
    secret = state.rotate_client_secret(keep_previous=keep is not False)
    return json_response(
        {"client_secret": secret, "active_client_secrets": len(state.client_secrets)}
    )


async def retire_secrets(request: web.Request) -> web.Response:
    state = services(request).state
    state.retire_previous_secrets()
    return json_response(
        {"client_secret": state.client_secret, "active_client_secrets": len(state.client_secrets)}
    )


def _account_filter(body: Json) -> str | None:
    account_id = body.get("account_id")
    if account_id is not None and not isinstance(account_id, str):
        raise ApiError(
            422,
            {"errors": {"account_id": [{"key": "errors.invalid", "description": "a string"}]}},
        )
    return account_id


async def expire_tokens(request: web.Request) -> web.Response:
    body = await read_json(request)
    state = services(request).state
    account_id = _account_filter(body)
    if account_id is not None:
        state.account(account_id)
    return json_response({"expired": state.expire_tokens(account_id)})


async def revoke_tokens(request: web.Request) -> web.Response:
    body = await read_json(request)
    state = services(request).state
    account_id = _account_filter(body)
    if account_id is not None:
        state.account(account_id)
    return json_response({"revoked": state.revoke_refresh_tokens(account_id)})


async def reset(request: web.Request) -> web.Response:
    svc = services(request)
    svc.notifier.reset()
    svc.state.reset()
    svc.log.clear()
    svc.faults.clear()
    svc.rate_limit.reset()
    return json_response({"reset": True})


async def get_requests(request: web.Request) -> web.Response:
    raw = request.query.get("limit")
    limit = int(raw) if raw is not None and raw.isdigit() else None
    return json_response(services(request).log.json(limit))


async def clear_requests(request: web.Request) -> web.Response:
    services(request).log.clear()
    return json_response({"cleared": True})


async def list_channels(request: web.Request) -> web.Response:
    state = services(request).state
    return json_response({"channels": [_channel_json(c) for c in state.all_channels()]})


async def get_channel(request: web.Request) -> web.Response:
    state = services(request).state
    return json_response(_channel_json(state.channel(request.match_info["channel_id"])))


async def wait_notifications(request: web.Request) -> web.Response:
    body = await read_json(request)
    timeout = body.get("timeout", 10)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ApiError(
            422, {"errors": {"timeout": [{"key": "errors.invalid", "description": "seconds"}]}}
        )
    notifier = services(request).notifier
    try:
        async with asyncio.timeout(float(timeout)):
            await notifier.wait_idle()
    except TimeoutError:
        return json_response({"idle": False, "pending": notifier.pending_tasks}, status=408)
    return json_response({"idle": True, "pending": 0})


async def list_faults(request: web.Request) -> web.Response:
    return json_response({"faults": [r.json() for r in services(request).faults.rules]})


async def add_fault(request: web.Request) -> web.Response:
    rule = services(request).faults.add(parse_rule(await read_json(request)))
    return json_response(rule.json(), status=201)


async def clear_faults(request: web.Request) -> web.Response:
    services(request).faults.clear()
    return json_response({"faults": []})


async def delete_fault(request: web.Request) -> web.Response:
    if not services(request).faults.remove(request.match_info["fault_id"]):
        raise ApiError(404, {"error": "no such fault"})
    return json_response({"deleted": request.match_info["fault_id"]})


async def release_fault(request: web.Request) -> web.Response:
    try:
        rule = services(request).faults.release(request.match_info["fault_id"])
    except KeyError:
        raise ApiError(404, {"error": "no such fault"}) from None
    return json_response(rule.json())


async def wait_held(request: web.Request) -> web.Response:
    """Answer once the ``hold`` rule parks ``held`` requests (200), or 408 after ``timeout``."""
    body = await read_json(request)
    timeout = body.get("timeout", 10)
    held = body.get("held", 1)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise unprocessable("timeout", "errors.invalid", "timeout must be positive seconds")
    if isinstance(held, bool) or not isinstance(held, int) or held < 1:
        raise unprocessable("held", "errors.invalid", "held must be a positive integer")
    faults = services(request).faults
    fault_id = request.match_info["fault_id"]
    status = 200
    try:
        try:
            async with asyncio.timeout(float(timeout)):
                rule = await faults.wait_held(fault_id, held)
        except TimeoutError:
            rule, status = faults.rule(fault_id), 408
    except KeyError:
        raise ApiError(404, {"error": "no such fault"}) from None
    return json_response(rule.json(), status=status)


async def get_rate_limit(request: web.Request) -> web.Response:
    return json_response(services(request).rate_limit.json())


async def put_rate_limit(request: web.Request) -> web.Response:
    limit = services(request).rate_limit
    limit.configure(await read_json(request))
    return json_response(limit.json())


async def get_settings(request: web.Request) -> web.Response:
    return json_response(settings_json(services(request)))


async def put_settings(request: web.Request) -> web.Response:
    svc = services(request)
    _apply_settings(svc, await read_json(request))
    return json_response(settings_json(svc))


def add_control_routes(app: web.Application) -> None:
    r = app.router
    p = PREFIX
    r.add_get(p, get_info)
    r.add_get(f"{p}/info", get_info)
    r.add_get(f"{p}/settings", get_settings)
    r.add_put(f"{p}/settings", put_settings)
    r.add_post(f"{p}/accounts", create_account)
    r.add_get(f"{p}/accounts", list_accounts)
    r.add_get(f"{p}/accounts/{{account_id}}", get_account)
    r.add_post(f"{p}/accounts/{{account_id}}/tokens", new_tokens)
    r.add_post(f"{p}/accounts/{{account_id}}/authorization_code", authorization_code)
    r.add_patch(f"{p}/profiles/{{profile_id}}", patch_profile)
    r.add_post(f"{p}/profiles/{{profile_id}}/disconnect", disconnect_profile)
    r.add_post(f"{p}/profiles/{{profile_id}}/reconnect", reconnect_profile)
    r.add_post(f"{p}/profiles/{{profile_id}}/calendars", add_calendar)
    r.add_delete(f"{p}/calendars/{{calendar_id}}", delete_calendar)
    r.add_get(f"{p}/calendars/{{calendar_id}}/events", calendar_events)
    r.add_post(f"{p}/calendars/{{calendar_id}}/events", add_events)
    r.add_patch(f"{p}/events/{{event_uid}}", update_event)
    r.add_delete(f"{p}/events/{{event_uid}}", delete_event)
    r.add_delete(f"{p}/series/{{series_identifier}}", delete_series)
    r.add_post(f"{p}/client_secret/rotate", rotate_secret)
    r.add_post(f"{p}/client_secret/retire", retire_secrets)
    r.add_post(f"{p}/tokens/expire", expire_tokens)
    r.add_post(f"{p}/tokens/revoke", revoke_tokens)
    r.add_post(f"{p}/reset", reset)
    r.add_get(f"{p}/requests", get_requests)
    r.add_delete(f"{p}/requests", clear_requests)
    r.add_get(f"{p}/channels", list_channels)
    r.add_get(f"{p}/channels/{{channel_id}}", get_channel)
    r.add_post(f"{p}/notifications/wait", wait_notifications)
    r.add_get(f"{p}/faults", list_faults)
    r.add_post(f"{p}/faults", add_fault)
    r.add_delete(f"{p}/faults", clear_faults)
    r.add_delete(f"{p}/faults/{{fault_id}}", delete_fault)
    r.add_post(f"{p}/faults/{{fault_id}}/release", release_fault)
    r.add_post(f"{p}/faults/{{fault_id}}/wait", wait_held)
    r.add_get(f"{p}/rate_limit", get_rate_limit)
    r.add_put(f"{p}/rate_limit", put_rate_limit)
