"""The composition root: the one place that builds the running system from :class:`Settings`.

Every entry point (the CLI's commands, ``serve``, ``worker``, ``dev``, the playground, the
workshop's attendees, the wizard, the exercises' lab) opens a :class:`System` and asks it for
the parts it runs, so an option added to :class:`Settings` reaches all of them at once:

>>> async with open_system(settings) as system:              # doctest: +SKIP
...     coordinator = await system.coordinator()
...     receiver = await system.receiver(coordinator, port=8080)
...     ...                                     # closed in reverse order on the way out

Lifetimes are registered as the parts are built (an :class:`~contextlib.AsyncExitStack`, as
a Home Assistant integration registers ``async_on_unload`` callbacks): the receiver stops
before the coordinator lets its running syncs finish, then the HTTP session and the store the
system opened are closed. A store or session passed in belongs to the caller.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp

from cronofy_avail.app.explain import CommandError
from cronofy_avail.app.settings import Settings
from cronofy_avail.client.api import CronofyClient, OAuthTokens
from cronofy_avail.client.ratelimit import RateLimiter, shared_limiter
from cronofy_avail.core.retry import RetryPolicy
from cronofy_avail.runtime.coordinator import (
    RETRY_DELAYS,
    BeforeSync,
    SyncCoordinator,
    SyncRequests,
    UserClients,
)
from cronofy_avail.runtime.serving import ConnectionLimits
from cronofy_avail.runtime.store import (
    POSTGRES_EXTRA,
    SQLiteStore,
    Store,
    StoreSchemaError,
    StoreUnavailableError,
)
from cronofy_avail.runtime.sync import SyncEngine
from webhook_server import WebhookConfig, WebhookServer
from webhook_server.plugin import DeliveryListener

if TYPE_CHECKING:  # built on first use: `import cronofy_avail` stays light
    from cronofy_avail.runtime.cluster import ClusterWorker
    from cronofy_avail.runtime.metrics import ProcessMetrics

Clock = Callable[[], datetime]
TokensListener = Callable[[OAuthTokens], Awaitable[None] | None]


class System:
    """The parts of one process's running system, built from its :class:`Settings`.

    ``engine``, ``retry`` and ``rate_limiter`` are made once; :meth:`clients`,
    :meth:`client`, :meth:`coordinator` and :meth:`receiver` build on them. Use
    :func:`open_system`, which closes everything in the right order.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        session: aiohttp.ClientSession,
        stack: AsyncExitStack,
        *,
        rate_limiter: RateLimiter | None,
        retry: RetryPolicy,
        engine: SyncEngine,
    ) -> None:
        self.settings = settings
        self.store = store
        self.session = session
        self.rate_limiter = rate_limiter
        """The application-wide limiter on ``CRONOFY_AVAIL_RATE_LIMIT``'s windows: the one
        every process of a cluster shares (PostgreSQL), else this process's for the client id;
        ``None`` only without a client id (no client can be built then)."""
        self.retry = retry
        """The client's retry policy: ``CRONOFY_AVAIL_MAX_ATTEMPTS`` tries of a request."""
        self.engine = engine
        """The sync engine: ``CRONOFY_AVAIL_SYNC_OVERLAP`` seconds of overlap."""
        self._stack = stack
        self._clients: UserClients | None = None
        self._metrics: ProcessMetrics | None = None
        self.metrics_url: str | None = None
        """Where this process serves ``/metrics`` (the receiver's, or a worker's listener)."""

    def __repr__(self) -> str:
        return f"System(api={self.settings.api_url!r}, store={type(self.store).__name__})"

    def on_unload(self, callback: Callable[[], Awaitable[Any]]) -> None:
        """Run ``callback`` when the system closes (before what was registered earlier)."""
        self._stack.push_async_callback(callback)

    @property
    def is_cluster(self) -> bool:
        """Whether the store is a cluster's (PostgreSQL): receivers enqueue, workers sync."""
        return self.settings.db_url is not None and _is_cluster_store(self.store)

    # ------------------------------------------------------------------ metrics

    def metrics(self) -> ProcessMetrics:
        """The operator's view of this process (``/metrics``), made once: the Cronofy calls,
        429s and limiter waits of its rate limiter, and the store's pending intents (and the
        cluster's queue) read at each scrape. The coordinator, the worker and the receiver
        this system builds add their own counts (see :meth:`coordinator`, :meth:`worker`,
        :meth:`receiver`)."""
        if self._metrics is None:
            from cronofy_avail.app.metrics import new_metrics
            from cronofy_avail.runtime.metrics import PendingSource

            metrics = new_metrics()
            metrics.limiter = self.rate_limiter  # what the clients use
            if isinstance(self.store, PendingSource):
                metrics.pending = self.store
            if self.is_cluster:
                from cronofy_avail.runtime.cluster import ClusterStore

                assert isinstance(self.store, ClusterStore)
                metrics.queue_depth = self.store.queue_depth
            self._metrics = metrics
        return self._metrics

    # ------------------------------------------------------------------ clients

    def clients(self) -> UserClients:
        """A client per stored user, on the system's session, limiter and retry policy."""
        if self._clients is None:
            client_id, client_secret = self.settings.require_app()
            self._clients = UserClients(
                self.store,
                client_id=client_id,
                client_secret=client_secret,
                data_center=self.settings.data_center,
                api_base_url=self.settings.api_base_url,
                session=self.session,
                rate_limiter=self.rate_limiter,
                retry=self.retry,
            )
        return self._clients

    def client(
        self,
        *,
        access_token: str | None,
        refresh_token: str | None = None,
        on_tokens: TokensListener | None = None,
    ) -> CronofyClient:
        """A client for given tokens (not a stored user's; none: the application's own calls,
        such as an OAuth code exchange), configured as every other."""
        return build_client(
            self.settings,
            access_token=access_token,
            refresh_token=refresh_token,
            on_tokens=on_tokens,
            session=self.session,
            rate_limiter=self.rate_limiter,
            retry=self.retry,
        )

    # ------------------------------------------------------------------ syncing

    async def coordinator(
        self,
        *,
        start: bool = True,
        schedule_every: float | None = None,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        max_concurrent: int = 4,
        hold_until_start: bool = False,
        before_sync: BeforeSync | None = None,
    ) -> SyncCoordinator:
        """Syncs in this process; stopped (running syncs finish) when the system closes."""
        coordinator = SyncCoordinator(
            self.store,
            self.engine,
            self.clients().for_user,
            schedule_every=schedule_every,
            retry_delays=retry_delays,
            max_concurrent=max_concurrent,
            hold_until_start=hold_until_start,
            before_sync=before_sync,
        )
        metrics = self.metrics()
        metrics.syncs_here = True
        coordinator.add_listener(metrics.syncs.observe)
        self.on_unload(coordinator.stop)
        if start:
            await coordinator.start()
        return coordinator

    async def sync_requests(
        self,
        *,
        schedule_every: float | None = None,
        hold_until_start: bool = False,
        before_sync: BeforeSync | None = None,
    ) -> SyncRequests:
        """Where a receiver hands intents on: in a cluster the queue (the intent was enqueued
        with it; workers sync), else a coordinator here (not started: call ``start()``)."""
        if self.is_cluster:
            from cronofy_avail.runtime.cluster import QueuedSyncs

            return QueuedSyncs()
        return await self.coordinator(
            start=False,
            schedule_every=schedule_every,
            hold_until_start=hold_until_start,
            before_sync=before_sync,
        )

    async def worker(
        self,
        *,
        concurrency: int = 4,
        tick_cron: str = "* * * * *",
        stalled_after: float = 30.0,
        keep_jobs: bool = False,
    ) -> ClusterWorker:
        """A cluster worker on this system's store, engine and clients (run it with
        ``run(stop)``). With ``CRONOFY_AVAIL_METRICS_PORT`` set, ``/metrics`` is served on
        ``CRONOFY_AVAIL_METRICS_HOST`` (loopback by default) until the system closes; its
        admin token is ``serve``'s (the file next to the store)."""
        from cronofy_avail.runtime.cluster import ClusterStore, ClusterWorker

        assert isinstance(self.store, ClusterStore), "a worker needs a PostgreSQL store"
        runner = ClusterWorker(
            self.store,
            self.engine,
            self.clients(),
            concurrency=concurrency,
            tick_cron=tick_cron,
            stalled_after=stalled_after,
            heartbeat=max(0.5, stalled_after / 3),
            keep_jobs=keep_jobs,
            give_up_after=self.settings.db_give_up,
        )
        metrics = self.metrics()
        metrics.syncs_here = True
        runner.add_listener(metrics.syncs.observe)
        if self.settings.metrics_port is not None:
            from cronofy_avail.app.admin_token import admin_token
            from cronofy_avail.app.metrics import MetricsListener

            listener = MetricsListener(
                metrics,
                host=self.settings.metrics_host,
                port=self.settings.metrics_port,
                admin_token=admin_token(self.settings.db_path),
            )
            self.metrics_url = await listener.start()  # OSError: the caller's to explain
            self.on_unload(listener.stop)
        return runner

    # ------------------------------------------------------------------ receiving

    async def receiver(
        self,
        requests: SyncRequests,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        admin_token: str | None = None,
        allowed_hosts: Sequence[str] | None = None,
        on_delivery: DeliveryListener | None = None,
        limits: ConnectionLimits | None = None,
        runs_requests: bool = False,
    ) -> WebhookServer:
        """The webhook receiver, listening; stopped (before ``requests``) on close. An
        ``OSError`` (the port is taken) is the caller's to explain.

        ``runs_requests``: the receiver starts ``requests`` (build it with ``start=False``)
        and stops it when it stops, so stopping the receiver alone lets running syncs finish
        (the playground's, a laptop's wizard)."""
        config = WebhookConfig(
            store=self.store,
            coordinator=requests,
            client_secrets=self.settings.client_secrets,
            admin_token=admin_token,
            allowed_hosts=allowed_hosts,
            own_coordinator=runs_requests,
            on_delivery=on_delivery,
            key_cache_size=self.settings.key_cache,
        )
        server = WebhookServer(config, host=host, port=port, limits=limits)
        # /metrics beside the receiver's prefix, refused as its /status is (one guard).
        from cronofy_avail.app.metrics import METRICS_PATH, metrics_handler

        metrics = self.metrics()
        server.app.router.add_get(
            METRICS_PATH,
            metrics_handler(metrics, admin_token=admin_token, allowed_hosts=allowed_hosts),
        )
        await server.start()
        self.on_unload(server.stop)
        assert server.handle is not None
        metrics.accepted, metrics.rejected = server.handle.accepted, server.handle.rejected
        self.metrics_url = f"{server.url or ''}".removesuffix(server.handle.prefix) + METRICS_PATH
        return server


def build_client(
    settings: Settings,
    *,
    access_token: str | None = None,
    refresh_token: str | None = None,
    on_tokens: TokensListener | None = None,
    session: aiohttp.ClientSession | None = None,
    rate_limiter: RateLimiter | None = None,
    retry: RetryPolicy | None = None,
) -> CronofyClient:
    """A client configured by ``settings`` (application, API, ``CRONOFY_AVAIL_MAX_ATTEMPTS``,
    ``CRONOFY_AVAIL_RATE_LIMIT``), for a moment with no :class:`System` around it (the wizard's
    OAuth exchange); a system's parts use :meth:`System.client`."""
    client_id, client_secret = settings.require_app()
    if rate_limiter is None:
        rate_limiter = shared_limiter(client_id, settings.rate_limit)
    return CronofyClient(
        access_token=access_token,
        refresh_token=refresh_token,
        client_id=client_id,
        client_secret=client_secret,
        data_center=settings.data_center,
        api_base_url=settings.api_base_url,
        session=session,
        rate_limiter=rate_limiter,
        retry=retry or RetryPolicy(max_attempts=settings.max_attempts),
        on_tokens=on_tokens,
    )


def for_app(
    settings: Settings | None,
    *,
    client_id: str,
    client_secret: str,
    api_base_url: str | None,
    data_center: str | None = None,
) -> Settings:
    """``settings`` (default: every default) for another Cronofy application and API: an
    emulator's, or credentials typed into the wizard. Everything else (retries, overlap, the
    store) stays as configured."""
    base = settings if settings is not None else Settings()
    return base.model_copy(
        update={
            "client_id": client_id,
            "client_secret": client_secret,
            "api_base_url": api_base_url,
            "data_center": data_center or base.data_center,
        }
    )


def _is_cluster_store(store: Store) -> bool:
    try:
        from cronofy_avail.runtime.cluster import ClusterStore
    except ImportError:  # no postgres extra: no cluster store either
        return False
    return isinstance(store, ClusterStore)


async def _open_store(settings: Settings) -> Store:
    """The store ``CRONOFY_AVAIL_DB`` names (a SQLite path, or a ``postgresql://`` URL); a
    path that is no SQLite database (or a directory, or unwritable), a server that cannot be
    reached or a missing driver is a :class:`CommandError` naming it, not an unexpected error."""
    if settings.db_url is not None:
        # A cluster's store: an intent recorded by any process also enqueues the user's sync
        # for the workers, in the same transaction.
        try:
            from cronofy_avail.runtime.cluster import ClusterStore
        except ImportError as exc:
            raise CommandError(
                f"store: a PostgreSQL store needs the postgres extra ({exc.name} is missing).\n"
                f"Fix: {POSTGRES_EXTRA}"
            ) from None
        try:
            return await ClusterStore.open_cluster(settings.db_url)
        except (StoreUnavailableError, StoreSchemaError) as exc:
            raise CommandError(f"store: {exc}") from None
    path = settings.db_path
    try:
        return await SQLiteStore.open(path)
    except sqlite3.DatabaseError as exc:
        reason = str(exc) or type(exc).__name__
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    raise CommandError(
        f"store: {path} is not a cronofy-avail database ({reason}).\n"
        "Fix: move it aside, or pass --db (or CRONOFY_AVAIL_DB) with another path."
    )


def _rate_limiter(settings: Settings, store: Store) -> RateLimiter | None:
    """The application's limit, ``CRONOFY_AVAIL_RATE_LIMIT``: every process of a cluster
    (receivers, workers, commands) shares one in the database; a process on its own shares
    one among its clients of the client id."""
    if not settings.client_id:
        return None
    if settings.db_url is None or not _is_cluster_store(store):
        return shared_limiter(settings.client_id, settings.rate_limit)
    from cronofy_avail.runtime.cluster import ClusterStore, PostgresRateLimiter

    assert isinstance(store, ClusterStore)
    return PostgresRateLimiter(store, f"cronofy:{settings.client_id}", settings.rate_limit)


@asynccontextmanager
async def open_system(
    settings: Settings,
    *,
    store: Store | None = None,
    session: aiohttp.ClientSession | None = None,
    clock: Clock | None = None,
    retry: RetryPolicy | None = None,
    engine_options: Mapping[str, Any] | None = None,
) -> AsyncIterator[System]:
    """Build the system ``settings`` describe; everything it started stops on the way out.

    ``store``/``session``: use these instead of opening them (they stay open). ``clock``: the
    engine's "now" (the wizard and the playground put the whole system at one instant).
    ``retry``: a whole retry policy instead of one from ``CRONOFY_AVAIL_MAX_ATTEMPTS`` (tests
    wait milliseconds between tries); ``engine_options``: further :class:`SyncEngine` options
    (tests).
    """
    async with AsyncExitStack() as stack:
        if store is None:
            opened = store = await _open_store(settings)

            async def close_store() -> None:
                with contextlib.suppress(Exception):  # closing never hides what happened
                    await opened.close()

            stack.push_async_callback(close_store)
        if session is None:
            session = await stack.enter_async_context(aiohttp.ClientSession())
        options: dict[str, Any] = {
            "served_overlap": timedelta(seconds=settings.sync_overlap),
            **(engine_options or {}),
        }
        if clock is not None:
            options["clock"] = clock
        yield System(
            settings,
            store,
            session,
            stack,
            rate_limiter=_rate_limiter(settings, store),
            retry=retry or RetryPolicy(max_attempts=settings.max_attempts),
            engine=SyncEngine(store, **options),
        )


__all__ = ["System", "build_client", "for_app", "open_system"]
