"""``python -m benchmarks``: run every benchmark and print its table."""

from __future__ import annotations

import asyncio

from . import bench_cluster, bench_sync, bench_webhook, bench_week, bench_workshop


async def main() -> None:
    await bench_webhook.run()
    print()
    await bench_sync.run()
    print()
    await bench_workshop.run()
    print()
    await bench_week.run()
    print()
    await bench_cluster.run()


if __name__ == "__main__":
    asyncio.run(main())
