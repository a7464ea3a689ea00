"""The webhook receiver as a plugin for any aiohttp application.

Lifecycle in the manner of a Home Assistant integration:

* :func:`async_setup` mounts the routes under a prefix (default ``/cronofy``) and returns a
  :class:`WebhookHandle`;
* :meth:`WebhookHandle.async_unload` undoes every registration: the routes stop answering (404),
  the coordinator's tasks are stopped if the plugin runs them, and the app keys and cleanup
  hooks it added are removed (the store is whoever opened it's to close);
* :meth:`WebhookHandle.async_get_diagnostics` dumps state with every secret redacted.

aiohttp cannot remove a route from an application's router, so the plugin adds one catch-all
route per prefix that dispatches through a registry (as Home Assistant's ``webhook`` component
does); unloading empties the registry entry and the route answers 404 from then on.

Routes (under the prefix):

``POST /notifications/{callback_key}``
    Cronofy's callback. The body is read raw and capped (413 before any hashing), the user is
    found by key (404 otherwise, the same answer whatever the reason), ``Cronofy-HMAC-SHA256`` is
    verified against the configured secrets (401), the JSON parsed (400). None of those failures
    touches state or calls Cronofy. A genuine delivery is recorded durably (delivery log and
    sync intent), answered 202 at once, and handed to the coordinator.
``GET /health``
    Liveness, public.
``GET /status``, ``GET /diagnostics``, ``GET /deliveries``, ``POST /deliveries/{id}/replay``
    Admin views. With ``admin_token`` set they need ``Authorization: Bearer <admin_token>``;
    without it they answer only direct loopback requests (not forwarded ones, as through ngrok).
    Either way a cross-site browser request (``Origin`` of another site, ``Sec-Fetch-Site``
    other than same-origin/none) is refused, and with ``allowed_hosts`` set so is any ``Host``
    not in it (DNS rebinding). ``cronofy-avail serve`` always sets a token and the hosts.

A body must arrive within ``body_timeout`` seconds (408 otherwise).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from cronofy_avail._version import __version__
from cronofy_avail.core.models import NotificationEnvelope, NotificationType
from cronofy_avail.core.signatures import (
    SIGNATURE_HEADER,
    MalformedNotificationError,
    SignatureVerificationError,
    parse_notification,
    verify,
)
from cronofy_avail.runtime.coordinator import SyncRequests
from cronofy_avail.runtime.store import Delivery, Store, StoreUnavailableError, UserState
from cronofy_avail.runtime.sync import SyncResult
from webhook_server.body import BadBody, ClientGone, read_capped, take_buffered
from webhook_server.guard import admin_refusal
from webhook_server.keycache import DEFAULT_KEY_CACHE, KeyCache
from webhook_server.redaction import (
    REDACTED,
    SECRET_KEYS,
    RedactingLogFilter,
    count_aiohttp_warnings_with,
    install_log_filter,
    mask_callback_keys,
    redact,
    shorten_signature,
)
from webhook_server.throttle import WarningThrottle

_LOGGER = logging.getLogger(__name__)

DEFAULT_PREFIX = "/cronofy"
DEFAULT_MAX_BODY = 64 * 1024
MAX_COUNTED_TYPES = 64
OTHER_TYPES = "(other)"
MAX_DELIVERY_ID = 10**12
_ACCEPTED = b'{"status": "accepted"}'
"""The answer to a change notification, as ``json_response`` would write it, made once."""
STORE_RETRY_AFTER = 5
"""``Retry-After`` seconds of a 503 answered while the store is unreachable."""
_JSON = "application/json"

_SIGNATURE_LOWER = SIGNATURE_HEADER.lower()
_LOGGED_HEADERS = frozenset({"content-type", "content-length", "user-agent", _SIGNATURE_LOWER})

_REGISTRY: web.AppKey[dict[str, WebhookHandle]] = web.AppKey("cronofy_avail_webhooks")
_ROUTED: web.AppKey[set[str]] = web.AppKey("cronofy_avail_webhook_routes")
_PATH: web.RequestKey[list[str]] = web.RequestKey("cronofy_avail_path", list)

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


DeliveryListener = Callable[[Delivery, int], Awaitable[None]]
"""Told of every delivery the receiver logs (the delivery, with its user, and its id)."""


@dataclass(slots=True)
class WebhookConfig:
    """What the plugin needs. ``client_secrets``: the current secret, plus the previous one
    while rotating. ``coordinator``: where a recorded intent is handed on (a
    :class:`~cronofy_avail.runtime.coordinator.SyncCoordinator`, or a cluster's queue);
    ``own_coordinator``: the plugin starts it on setup and stops it on unload (``False`` when
    whoever built it runs its lifetime). ``on_delivery``: told of each logged delivery, after
    it is on disk; its failure never fails the delivery."""

    store: Store
    coordinator: SyncRequests
    client_secrets: Sequence[str]
    prefix: str = DEFAULT_PREFIX
    max_body: int = DEFAULT_MAX_BODY
    admin_token: str | None = field(default=None, repr=False)
    allowed_hosts: Sequence[str] | None = None
    """Host names (without port) the admin views answer to; ``None``: any."""
    body_timeout: float = 10.0
    max_body_reads: int = 64
    """Bodies read at once; beyond it a delivery is answered 503 with ``Retry-After``."""
    own_coordinator: bool = True
    on_delivery: DeliveryListener | None = None
    clock: Clock = _utcnow
    key_cache_size: int = DEFAULT_KEY_CACHE
    """Callback keys remembered (the most recently used) so that the check before a body is
    read needs no store call (``CRONOFY_AVAIL_KEY_CACHE``); 0: ask the store every time."""
    warnings: WarningThrottle = field(default_factory=WarningThrottle)
    """Counts the warnings clients cause (malformed requests, refused signatures, bodies cut
    short): the first few are logged, then one line per interval says how many it stands
    for. Its clock is injectable."""

    def __repr__(self) -> str:
        return f"WebhookConfig(prefix={self.prefix!r}, max_body={self.max_body})"


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebhookHandle:
    """One mounted receiver. Keep it to unload, inspect, or replay."""

    def __init__(self, app: web.Application, config: WebhookConfig) -> None:
        self.app = app
        self.config = config
        self.prefix = config.prefix.rstrip("/")
        self.rejected: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        self._awaiting: dict[str, deque[tuple[int, datetime]]] = {}
        """Deliveries whose sync has not reported yet: (delivery id, received at), per user."""
        self._remove_listener: Callable[[], None] | None = None
        self._release_throttle: Callable[[], None] | None = None
        self._kind_levels: dict[str, int] = {}
        """The level of each kind of client-caused line (its summary has the same)."""
        self._loaded = False
        self._routes: dict[tuple[str, str], Handler] = {}
        self._body_reads = 0
        # Callback keys seen on accepted deliveries (key -> user id), the most recently used
        # ``key_cache_size``: the check made before a body is read costs a store call only
        # for a key not among them.
        self._known_keys = KeyCache(config.key_cache_size)
        self._delivery_listeners: list[DeliveryListener] = (
            [config.on_delivery] if config.on_delivery is not None else []
        )

    # ------------------------------------------------------------------ lifecycle

    async def _load(self) -> None:
        self._routes = {
            ("POST", "notifications"): self._notification,
            ("GET", "health"): self._health,
            ("GET", "status"): self._admin(self._status),
            ("GET", "diagnostics"): self._admin(self._diagnostics),
            ("GET", "deliveries"): self._admin(self._deliveries),
            ("POST", "deliveries"): self._admin(self._replay),
        }
        self._remove_listener = self.config.coordinator.add_listener(self._on_sync)
        self._release_throttle = count_aiohttp_warnings_with(self.config.warnings)
        if self.config.own_coordinator:
            await self.config.coordinator.start()
        self._loaded = True

    async def async_unload(self) -> None:
        """Stop answering and stop the coordinator if the plugin runs it (graceful)."""
        if not self._loaded:
            return
        self._loaded = False
        registry = self.app.get(_REGISTRY)
        if registry is not None and registry.get(self.prefix) is self:
            del registry[self.prefix]
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        if self._release_throttle is not None:
            self._release_throttle()
            self._release_throttle = None
        for kind, count, elapsed in self.config.warnings.flush():
            # Counted, not logged yet: said once before the receiver goes.
            _LOGGER.log(
                self._kind_levels.get(kind, logging.WARNING),
                "suppressed %d similar warning%s (%s) in the last %.0fs",
                count,
                "s" if count != 1 else "",
                kind,
                elapsed,
            )
        if self.config.own_coordinator:
            await self.config.coordinator.stop()
        if registry is not None and not registry and not self.app.router.frozen:
            # Nothing left to dispatch and the app has not started: leave no key behind.
            self.app.pop(_REGISTRY, None)

    @property
    def loaded(self) -> bool:
        return self._loaded

    # ------------------------------------------------------------------ dispatch

    async def dispatch(self, request: web.Request, tail: str) -> web.StreamResponse:
        parts = [p for p in tail.split("/") if p]
        if not parts:
            raise web.HTTPNotFound()
        key = (request.method, parts[0])
        handler = self._routes.get(key)
        if handler is None or not self._loaded:
            if any(k[1] == parts[0] for k in self._routes):
                raise web.HTTPMethodNotAllowed(
                    request.method, [m for m, n in self._routes if n == parts[0]]
                )
            raise web.HTTPNotFound()
        request[_PATH] = parts[1:]
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except StoreUnavailableError as exc:
            # The database went away (a restart, a failover): nothing was recorded, and the
            # sender is asked to come back (Cronofy retries a failed delivery).
            if parts[0] == "notifications":
                self.rejected["store_unavailable"] += 1
            _LOGGER.warning("answered 503 to %s %s: %s", request.method, parts[0], exc)
            return web.json_response(
                {"error": "store unavailable; try again later"},
                status=503,
                headers={"Retry-After": str(STORE_RETRY_AFTER)},
            )
        except Exception:
            _LOGGER.exception("webhook handler error on %s %s", request.method, parts[0])
            return web.json_response({"error": "internal error"}, status=500)

    # ------------------------------------------------------------------ notifications

    async def _notification(self, request: web.Request) -> web.StreamResponse:
        path = request[_PATH]
        if len(path) != 1:
            raise web.HTTPNotFound()
        # Before any body is read: an unknown key or an unsigned request is answered at once,
        # so slow bodies cannot pile up behind requests that would be refused anyway.
        store = self.config.store
        user_id = self._known_keys.get(path[0])
        if user_id is None:
            user = await store.get_user_by_callback_key(path[0])
            if user is None:
                self.rejected["unknown_key"] += 1
                return web.json_response({"error": "not found"}, status=404)
            user_id = user.user_id
        signature = request.headers.get(SIGNATURE_HEADER)
        if signature is None or not signature.strip():
            self.rejected[SignatureVerificationError.REASON_MISSING] += 1
            self._client_warning(
                logging.WARNING,
                "rejected delivery: missing signature",
                "rejected delivery for %s: missing signature",
                user_id,
            )
            return web.json_response({"error": "invalid signature"}, status=401)
        if request.content.is_eof():
            # The whole body has arrived (the common case: a small body comes with its head),
            # so there is nothing to wait for, bound or time: take it as it is.
            try:
                body = take_buffered(request, self.config.max_body)
            except BadBody:
                self.rejected["unreadable_body"] += 1
                return web.json_response({"error": "unreadable body"}, status=400)
        else:
            if self._body_reads >= self.config.max_body_reads:
                self.rejected["busy"] += 1
                return web.json_response(
                    {"error": "too many deliveries in progress"},
                    status=503,
                    headers={"Retry-After": "5"},
                )
            self._body_reads += 1
            try:
                async with asyncio.timeout(self.config.body_timeout):
                    body = await read_capped(request, self.config.max_body)
            except TimeoutError:
                self.rejected["body_timeout"] += 1
                return web.json_response({"error": "body not received in time"}, status=408)
            except BadBody:
                self.rejected["unreadable_body"] += 1
                return web.json_response({"error": "unreadable body"}, status=400)
            except ClientGone:
                # The client hung up before the end of the body it announced: nothing to
                # answer, nothing went wrong here.
                self.rejected["client_gone"] += 1
                self._client_warning(
                    logging.INFO,
                    "client gone before its body",
                    "a client closed the connection before sending the whole body of a "
                    "delivery for %s; nothing was recorded",
                    user_id,
                )
                return web.json_response({"error": "body not received"}, status=400)
            finally:
                self._body_reads -= 1
        if body is None:
            self.rejected["too_large"] += 1
            return web.json_response({"error": "body too large"}, status=413)
        key = path[0]
        try:
            verify(body, request.headers.get(SIGNATURE_HEADER), self.config.client_secrets)
        except SignatureVerificationError as exc:
            return await self._refuse(key, exc.reason, 401, "invalid signature")
        try:
            envelope = parse_notification(body)
        except MalformedNotificationError as exc:
            return await self._refuse(key, "malformed", 400, f"malformed notification: {exc}")
        now = self.config.clock()
        delivery = Delivery(
            received_at=now,
            user_id=None,
            callback_key_hint=key[:4] + "…",
            headers=self._loggable_headers(request.headers),
            body=self._loggable_body(body, key),
            verified=True,
            outcome="accepted",
            notification_type=envelope.type,
        )
        if envelope.type == NotificationType.CHANGE:
            # The common case, in one store call and one (group-committed) transaction: find
            # the user by key, log the delivery, record the intent. On disk before the 202.
            accepted = await store.accept_delivery(
                delivery, callback_key=key, changes_since=envelope.changes_since
            )
            if accepted is None:  # the user was forgotten since the key was checked
                self._known_keys.discard(key)
                self.rejected["unknown_key"] += 1
                return web.json_response({"error": "not found"}, status=404)
            delivery_id, user_id = accepted
            self._known_keys.put(key, user_id)
            if self._delivery_listeners:  # the ack path stays cheap without any
                delivery.user_id = user_id
                await self._tell(delivery, delivery_id)
            self.config.coordinator.request(user_id)
            self._await(user_id, delivery_id, now)
            self._count_type(envelope.type)
            return web.Response(body=_ACCEPTED, status=202, content_type=_JSON, charset="utf-8")
        user = await store.get_user_by_callback_key(key)
        if user is None:
            self.rejected["unknown_key"] += 1
            return web.json_response({"error": "not found"}, status=404)
        delivery.user_id = user.user_id
        delivery_id = await store.add_delivery(delivery)
        await self._tell(delivery, delivery_id)
        outcome = await self._act(user.user_id, envelope, now)
        if outcome != "accepted":
            await store.update_delivery(delivery_id, outcome=outcome, sync_result=None)
        else:
            self._await(user.user_id, delivery_id, now)
        self._count_type(envelope.type)
        return web.json_response({"status": outcome}, status=202)

    def add_delivery_listener(self, listener: DeliveryListener) -> Callable[[], None]:
        """Be told of each delivery logged from now on; returns the function that stops it."""
        self._delivery_listeners.append(listener)

        def remove() -> None:
            if listener in self._delivery_listeners:  # removing twice is no error
                self._delivery_listeners.remove(listener)

        return remove

    async def _tell(self, delivery: Delivery, delivery_id: int) -> None:
        for listener in list(self._delivery_listeners):
            try:
                await listener(delivery, delivery_id)
            except Exception:  # a listener (a display, a metric) never fails a delivery
                _LOGGER.exception("a delivery listener failed on delivery %d", delivery_id)

    async def _refuse(self, key: str, reason: str, status: int, error: str) -> web.Response:
        """A delivery that failed its checks: an unknown key answers 404 whatever else is
        wrong (the same answer whatever the reason); a known one gets ``status``."""
        user = await self.config.store.get_user_by_callback_key(key)
        if user is None:
            self.rejected["unknown_key"] += 1
            return web.json_response({"error": "not found"}, status=404)
        self.rejected[reason] += 1
        if status == 401:
            self._client_warning(
                logging.WARNING,
                f"rejected delivery: {reason}",
                "rejected delivery for %s: %s",
                user.user_id,
                reason,
            )
        return web.json_response({"error": error}, status=status)

    def _client_warning(self, level: int, kind: str, message: str, *args: object) -> None:
        """Log what a client caused, unless a flood of its ``kind`` is being counted."""
        self._kind_levels[kind] = level
        admitted = self.config.warnings.admit(kind)
        if admitted is not None:
            _LOGGER.log(level, message + "%s", *args, admitted.note)

    def _count_type(self, kind: str) -> None:
        """Count accepted deliveries by type; unknown types beyond a few share one bucket, so
        a sender inventing types cannot grow ``/status`` without bound."""
        if kind in self.accepted or len(self.accepted) < MAX_COUNTED_TYPES:
            self.accepted[kind] += 1
        else:
            self.accepted[OTHER_TYPES] += 1

    async def _act(self, user_id: str, envelope: NotificationEnvelope, now: datetime) -> str:
        """Record the intent durably, then hand the work on. Returns the delivery outcome."""
        store, coordinator = self.config.store, self.config.coordinator
        kind = envelope.type
        if kind == NotificationType.CHANGE:
            await store.record_intent(
                user_id, changes_since=envelope.changes_since, received_at=now
            )
            coordinator.request(user_id)
            return "accepted"
        if kind == NotificationType.VERIFICATION:
            return "verified"
        if kind == NotificationType.PROFILE_DISCONNECTED:
            await store.set_state(
                user_id,
                UserState.DISCONNECTED,
                "Cronofy reports the calendar profile disconnected: relink it",
            )
            return "disconnected"
        if kind == NotificationType.PROFILE_INITIAL_SYNC_COMPLETED:
            # The profile is (re)connected and its calendars are readable: converge fully.
            user = await store.get_user(user_id)
            if user is not None and user.state == UserState.DISCONNECTED:
                await store.set_state(user_id, UserState.IDLE, None)
            await store.record_intent(user_id, changes_since=None, full=True, received_at=now)
            coordinator.request(user_id, full=True)
            return "accepted"
        return "ignored"

    @staticmethod
    def _loggable_headers(headers: Mapping[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in headers.items():
            lowered = key.lower()
            if lowered in _LOGGED_HEADERS:
                out[key] = shorten_signature(value) if lowered == _SIGNATURE_LOWER else value
        return out

    @staticmethod
    def _loggable_body(body: bytes, callback_key: str) -> str:
        text = body.decode("utf-8", errors="replace")
        return text.replace(callback_key, callback_key[:4] + "…")

    def _await(self, user_id: str, delivery_id: int, received_at: datetime) -> None:
        self._awaiting.setdefault(user_id, deque(maxlen=100)).append((delivery_id, received_at))

    async def _on_sync(self, user_id: str, result: SyncResult) -> None:
        """Credit a sync to the deliveries it covered: those received before it started.

        A dry run covers nothing; a sync that will be retried leaves them waiting for the
        retry's outcome.
        """
        waiting = self._awaiting.get(user_id)
        if not waiting or result.dry_run or result.retryable:
            return
        covered = [(i, at) for i, at in waiting if at <= result.started_at]
        if not covered:
            return
        left = deque((item for item in waiting if item not in covered), maxlen=100)
        if left:
            self._awaiting[user_id] = left
        else:
            del self._awaiting[user_id]  # nothing waits: keep no per-user state
        summary = result.as_dict()
        outcome = "synced" if result.ok else f"sync_{result.state}"
        await self.config.store.update_deliveries(
            [delivery_id for delivery_id, _ in covered], outcome=outcome, sync_result=summary
        )

    # ------------------------------------------------------------------ admin views

    def _admin(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            refusal = self._refuse_admin(request)
            if refusal is not None:
                return web.json_response({"error": refusal}, status=403)
            return await handler(request)

        return guarded

    def _refuse_admin(self, request: web.Request) -> str | None:
        """Why an admin request is refused, or ``None`` (the rule: :mod:`webhook_server.guard`)."""
        return admin_refusal(
            request, admin_token=self.config.admin_token, allowed_hosts=self.config.allowed_hosts
        )

    async def _health(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "ok", "version": __version__})

    async def status(self) -> dict[str, Any]:
        """Per-user sync state and counts; no token, secret or callback key."""
        users = [u.public() for u in await self.config.store.list_users()]
        stats = self.config.coordinator.stats
        return {
            "version": __version__,
            "prefix": self.prefix,
            "users": users,
            "deliveries": {"accepted": dict(self.accepted), "rejected": dict(self.rejected)},
            "coordinator": {
                "syncs": dict(stats.syncs),
                "requests": dict(stats.requests),
                "retries": dict(stats.retries),
            },
        }

    async def _status(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(redact(await self.status()))

    async def async_get_diagnostics(self) -> dict[str, Any]:
        """Everything useful to debug a deployment, secrets redacted."""
        deliveries = await self.config.store.list_deliveries(20)
        data: dict[str, Any] = redact(
            {
                "config": {
                    "prefix": self.prefix,
                    "max_body": self.config.max_body,
                    "client_secrets": list(self.config.client_secrets),
                    "admin_token": self.config.admin_token,
                },
                "status": await self.status(),
                "recent_deliveries": [_delivery_view(d) for d in deliveries],
            }
        )
        return data

    async def _diagnostics(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(await self.async_get_diagnostics())

    async def _deliveries(self, request: web.Request) -> web.StreamResponse:
        if request[_PATH]:
            raise web.HTTPNotFound()
        raw = request.query.get("limit", "50") or "50"
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 6):
            return web.json_response(
                {"error": "limit must be a whole number from 0 to 500"}, status=400
            )
        limit = min(int(raw), 500)
        deliveries = await self.config.store.list_deliveries(limit)
        return web.json_response({"deliveries": [_delivery_view(d) for d in deliveries]})

    async def replay(self, delivery_id: int) -> str:
        """Process a logged delivery again (it was verified when it arrived)."""
        delivery = await self.config.store.get_delivery(delivery_id)
        if delivery is None or delivery.user_id is None or not delivery.verified:
            raise KeyError(delivery_id)
        envelope = parse_notification(delivery.body.encode("utf-8"))
        outcome = await self._act(delivery.user_id, envelope, self.config.clock())
        if outcome == "accepted":
            self._await(delivery.user_id, delivery_id, self.config.clock())
        return outcome

    async def _replay(self, request: web.Request) -> web.StreamResponse:
        path = request[_PATH]
        if (
            len(path) != 2
            or path[1] != "replay"
            or not (path[0].isascii() and path[0].isdigit() and len(path[0]) <= 12)
        ):
            return web.json_response({"error": "no such delivery"}, status=404)
        try:
            outcome = await self.replay(int(path[0]))
        except (KeyError, MalformedNotificationError):
            return web.json_response({"error": "no such delivery"}, status=404)
        return web.json_response({"status": outcome, "delivery_id": int(path[0])}, status=202)


def _delivery_view(d: Delivery) -> dict[str, Any]:
    return {
        "delivery_id": d.delivery_id,
        "received_at": d.received_at.isoformat(),
        "user_id": d.user_id,
        "type": d.notification_type,
        "verified": d.verified,
        "outcome": d.outcome,
        "headers": d.headers,
        "body": d.body,
        "sync_result": d.sync_result,
    }


def _normalise_prefix(prefix: str) -> str:
    prefix = "/" + prefix.strip("/")
    if prefix == "/":
        raise ValueError("the webhook prefix must not be the root")
    return prefix


async def async_setup(app: web.Application, config: WebhookConfig) -> WebhookHandle:
    """Mount the receiver in ``app`` under ``config.prefix`` and start its coordinator."""
    prefix = _normalise_prefix(config.prefix)
    config.prefix = prefix
    install_log_filter()
    registry = app.get(_REGISTRY)
    if registry is None:
        if app.frozen:
            raise RuntimeError(
                "set up the Cronofy webhook before the host application starts "
                "(aiohttp freezes its router on start)"
            )
        registry = {}
        app[_REGISTRY] = registry
    if prefix in registry:
        raise ValueError(f"a Cronofy webhook is already set up at {prefix}")
    routed = app.get(_ROUTED)
    if routed is None or prefix not in routed:
        if app.router.frozen:
            raise RuntimeError(f"cannot add routes for {prefix}: the application has started")

        async def route(request: web.Request) -> web.StreamResponse:
            handle = request.app.get(_REGISTRY, {}).get(prefix)
            if handle is None:
                raise web.HTTPNotFound()
            return await handle.dispatch(request, request.match_info["tail"])

        app.router.add_route("*", prefix + "/{tail:.*}", route)
        if routed is None:
            routed = set()
            app[_ROUTED] = routed
        routed.add(prefix)
    handle = WebhookHandle(app, config)
    await handle._load()
    registry[prefix] = handle
    return handle


async def async_unload(handle: WebhookHandle) -> None:
    """Undo :func:`async_setup`."""
    await handle.async_unload()


__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_PREFIX",
    "REDACTED",
    "SECRET_KEYS",
    "DeliveryListener",
    "RedactingLogFilter",
    "WebhookConfig",
    "WebhookHandle",
    "async_setup",
    "async_unload",
    "install_log_filter",
    "mask_callback_keys",
    "redact",
    "shorten_signature",
]
