"""One receiver process for ``bench_cluster``: the webhook server on a store, until SIGTERM.

``python -m benchmarks.cluster_receiver --db URL_OR_PATH --port N``: on a PostgreSQL URL the
cluster's receiver (record + enqueue in one transaction); on a SQLite path the single-process
receiver with its coordinator stopped (so only the acknowledgement is measured, as in
``bench_webhook``).
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from cronofy_avail.runtime.coordinator import SyncCoordinator, SyncRequests, UserClients
from cronofy_avail.runtime.store import SQLiteStore, Store
from cronofy_avail.runtime.sync import SyncEngine
from webhook_server import WebhookConfig, WebhookServer

SECRET = "CRN_benchmark_secret"  # noqa: S105 - a fixed test value


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    store: Store
    coordinator: SyncRequests
    if args.db.startswith("postgresql://"):
        from cronofy_avail.runtime.cluster import ClusterStore, QueuedSyncs

        cluster = await ClusterStore.open_cluster(args.db)
        store, coordinator = cluster, QueuedSyncs()
    else:
        store = await SQLiteStore.open(args.db)
        clients = UserClients(store, client_id="c", client_secret=SECRET)
        coordinator = SyncCoordinator(store, SyncEngine(store), clients.for_user)
        await coordinator.stop()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    config = WebhookConfig(
        store=store, coordinator=coordinator, client_secrets=[SECRET], own_coordinator=False
    )
    try:
        async with WebhookServer(config, port=args.port):
            print("ready", flush=True)
            await stop.wait()
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
