"""``notify`` (a correctly signed notification of any type: Cronofy has no "send test
event") and ``replay`` (resend a logged delivery through the running server's admin route)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import urlsplit

import aiohttp

from cronofy_avail.app.admin_token import admin_token, admin_token_path
from cronofy_avail.app.explain import CommandError
from cronofy_avail.app.settings import ENV_CLIENT_SECRET, ConfigError, Settings
from cronofy_avail.cli.common import emit, redact_callback, runtime
from cronofy_avail.core.models import NotificationType, format_time, parse_time
from cronofy_avail.core.signatures import SIGNATURE_HEADER, sign
from webhook_server import DEFAULT_PREFIX

TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)
DEFAULT_SERVER = f"http://127.0.0.1:8080{DEFAULT_PREFIX}"


def add_notify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "url",
        nargs="?",
        help="the callback URL (…/cronofy/notifications/KEY); default: the stored user's "
        "(--user, else CRONOFY_AVAIL_USER or 'default')",
    )
    parser.add_argument(
        "--type",
        default=NotificationType.CHANGE,
        dest="notification_type",
        help="notification type: change (default), verification, profile_disconnected, "
        "profile_initial_sync_completed, or any other string",
    )
    parser.add_argument(
        "--changes-since",
        help="for a change: UTC time such as 2026-11-24T09:00:00Z (default: now)",
    )
    parser.add_argument(
        "--secret",
        action="append",
        help="sign with this secret instead of CRONOFY_CLIENT_SECRET (repeat to send several)",
    )
    parser.add_argument("--channel-id", help="channel id in the body (default: the stored one)")
    parser.add_argument(
        "--allow-disconnect",
        action="store_true",
        help="really send profile_disconnected: the receiver then stops syncing the user, as "
        "for Cronofy's own (undo: --type profile_initial_sync_completed)",
    )


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("delivery_id", type=int, help="id from `cronofy-avail status`")
    parser.add_argument(
        "--server", default=DEFAULT_SERVER, help=f"the running receiver (default {DEFAULT_SERVER})"
    )


def build_body(
    notification_type: str,
    *,
    callback_url: str,
    channel_id: str,
    calendar_id: str | None,
    changes_since: datetime | None,
) -> bytes:
    notification: dict[str, Any] = {"type": notification_type}
    if notification_type == NotificationType.CHANGE:
        notification["changes_since"] = format_time(changes_since or datetime.now(UTC))
    filters: dict[str, Any] = {"calendar_ids": [calendar_id]} if calendar_id else {}
    envelope = {
        "notification": notification,
        "channel": {"channel_id": channel_id, "callback_url": callback_url, "filters": filters},
    }
    return json.dumps(envelope, separators=(",", ":")).encode("utf-8")


NOTIFY_FIX = (
    "check that the receiver is running (`cronofy-avail serve`, or `cronofy-avail dev`), and "
    "leave the URL out to target the stored user's callback URL (`--user ID` for another user)"
)


def replay_fix(server: str) -> str:
    given = "" if server == DEFAULT_SERVER.rstrip("/") else f"; the default is {DEFAULT_SERVER}"
    return (
        "start `cronofy-avail serve` on this host, or pass --server with the URL of the "
        f"running receiver{given}"
    )


async def _post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes | None,
    headers: dict[str, str],
    *,
    fix: str,
) -> tuple[int, str]:
    """POST to a receiver (never Cronofy): a failure names the URL tried and ``fix``."""
    host = urlsplit(url).netloc or url
    try:
        async with session.post(
            url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False
        ) as response:
            return response.status, (await response.text())[:300]
    except TimeoutError as exc:
        raise CommandError(f"no answer from {host} in time (POST {url}).\nFix: {fix}.") from exc
    except aiohttp.ClientConnectorError as exc:
        raise CommandError(
            f"cannot reach {host}: nothing accepts connections there (POST {url}).\nFix: {fix}."
        ) from exc
    except aiohttp.ClientError as exc:
        raise CommandError(
            f"cannot reach {host}: the connection failed (POST {url}).\nFix: {fix}."
        ) from exc


async def run_notify(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Sign and POST a notification to a callback URL; print what the receiver answered."""
    given: str | None = args.url
    if given is not None and not given.startswith(("http://", "https://")):
        raise CommandError(
            f"{given!r} is not an http(s) URL.\nFix: leave it out to target the stored user "
            "(`--user ID` for another one)."
        )
    secrets = list(args.secret or settings.client_secrets)
    if not secrets:
        raise ConfigError(
            f"{ENV_CLIENT_SECRET} is not set and no --secret was given: a notification is "
            "signed with the application's client secret (developer dashboard)."
        )
    disconnecting = args.notification_type == NotificationType.PROFILE_DISCONNECTED
    if disconnecting and not args.allow_disconnect:
        # Safer default: a test must not silently switch a working user's syncing off.
        raise CommandError(
            "not sent: a profile_disconnected notification makes the receiver stop syncing the "
            "user, as Cronofy's own would (every later change is logged, not synced, until it "
            "is undone).\nFix: pass --allow-disconnect to send it anyway; undo it afterwards "
            "with `cronofy-avail notify --type profile_initial_sync_completed` (or run "
            "`cronofy-avail setup` again)."
        )
    changes_since = None
    if args.changes_since:
        try:
            changes_since = parse_time(args.changes_since)
        except ValueError as exc:
            raise CommandError(
                f"--changes-since {args.changes_since!r} is not a time like 2026-11-24T09:00:00Z"
            ) from exc
    # A URL given needs no stored user: the store, if any, only names its channel.
    async with runtime(settings, out, store="read" if given is None else "if_any") as rt:
        for secret in secrets:
            rt.out.add_secret(secret)
        if given is None:
            target = await rt.user()
            if not target.callback_url:
                raise CommandError(
                    f"user {target.user_id!r} has no callback URL yet.\n"
                    "Fix: run `cronofy-avail setup`."
                )
            url = target.callback_url
        else:
            url = given
        channel_id, calendar_id = args.channel_id, None
        for user in await rt.store.list_users():
            rt.remember(user)
            if user.callback_url and user.callback_url == url:
                channel_id = channel_id or user.channel_id
                calendar_id = user.calendar_id
        body = build_body(
            args.notification_type,
            callback_url=url,
            channel_id=channel_id or "chn_cli_test",
            calendar_id=calendar_id,
            changes_since=changes_since,
        )
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(body, secrets),
            "User-Agent": "cronofy-avail notify",
        }
        status, text = await _post(rt.session, url, body, headers, fix=NOTIFY_FIX)
        shown = url
        for user in await rt.store.list_users():
            shown = redact_callback(shown, user.callback_key) or shown
        emit(rt.out, f"POST {shown}")
        emit(rt.out, f"type {args.notification_type}, signed with {len(secrets)} secret(s)")
        emit(rt.out, f"receiver answered {status}: {text.strip() or '(empty body)'}")
        if 200 <= status < 300:
            if disconnecting:
                emit(
                    rt.out,
                    "note: the receiver now treats this user as disconnected and syncs nothing "
                    "for it. Undo: `cronofy-avail notify --type "
                    "profile_initial_sync_completed` (or `cronofy-avail setup`).",
                )
            return 0
        if status == 401:
            emit(
                rt.out,
                "Fix: the receiver rejected the signature: sign with the client secret the "
                f"server uses ({ENV_CLIENT_SECRET} or --secret).",
            )
        elif status == 404:
            emit(
                rt.out,
                "Fix: no user of the receiver has that callback key: leave the URL out to "
                "target the stored user (`--user ID`), and check that the receiver serves "
                "this store.",
            )
        return 1


async def run_replay(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Ask the running server to process a logged delivery again."""
    server = args.server.rstrip("/")
    url = f"{server}/deliveries/{args.delivery_id}/replay"
    headers = {"Accept": "application/json"}
    token = admin_token(settings.db_path, create=False)  # written by `serve`, owner-only
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as session:
        status, text = await _post(session, url, None, headers, fix=replay_fix(server))
    emit(out, f"POST {url}")
    emit(out, f"server answered {status}: {text.strip() or '(empty body)'}")
    if 200 <= status < 300:
        return 0
    if status == 404:
        emit(
            out,
            f"Fix: no delivery {args.delivery_id} in the server's log (or no receiver at "
            f"{server}); list them with `cronofy-avail status`.",
        )
    elif status == 403:
        emit(
            out,
            "Fix: the admin routes need the admin token `serve` keeps next to its database "
            f"({admin_token_path(settings.db_path)}): run with the same CRONOFY_AVAIL_DB, "
            "on the host.",
        )
    return 1
