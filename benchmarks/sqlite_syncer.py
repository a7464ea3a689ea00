"""One process syncing on SQLite for ``bench_cluster``'s baseline, the emulator elsewhere.

``python -m benchmarks.sqlite_syncer --db PATH --api URL --client-id ID``: opens the store,
prints ``ready``; on a line ``go`` on stdin requests a full sync of every user (a
``SyncCoordinator``, 4 at once, as ``serve`` runs it), prints ``done`` once all are synced,
and exits at the end of stdin. The parent reads this process's CPU from /proc between
``ready`` and ``done``, so start-up is not counted (as for the workers).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from cronofy_avail.runtime.coordinator import SyncCoordinator, UserClients
from cronofy_avail.runtime.store import SQLiteStore
from cronofy_avail.runtime.sync import SyncEngine

from .cluster_receiver import SECRET


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--api", required=True)
    parser.add_argument("--client-id", required=True)
    args = parser.parse_args()
    store = await SQLiteStore.open(args.db)
    loop = asyncio.get_running_loop()
    try:
        clients = UserClients(
            store, client_id=args.client_id, client_secret=SECRET, api_base_url=args.api
        )
        coordinator = SyncCoordinator(
            store, SyncEngine(store), clients.for_user, schedule_every=None
        )
        await coordinator.start()
        ids = [u.user_id for u in await store.list_users()]
        print("ready", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
        for user_id in ids:
            coordinator.request(user_id, full=True)
        await coordinator.wait_idle()
        print("done", flush=True)
        await loop.run_in_executor(None, sys.stdin.read)
        await coordinator.stop()
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
