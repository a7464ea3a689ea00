"""``python -m benchmarks``: the figures of issues 14 and 24 (P1-P9, G) with goals and baselines,
then every other benchmark's table. ``--json``: only the figures, one JSON object a line (the
first one describes the machine). ``--figures``: only the figures. Nothing is written to disk.
"""

from __future__ import annotations

import argparse
import asyncio

from . import bench_cluster, bench_sync, bench_webhook, bench_week, bench_workshop, figures


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--json", action="store_true", help="figures as JSON lines only")
    parser.add_argument("--figures", action="store_true", help="only the figures")
    parser.add_argument("--only", default=None, help="comma-separated figures, e.g. P1,G")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    table = await figures.collect(only=only)
    figures.print_table(table, as_json=args.json)
    if args.json or args.figures or only:
        return
    print()
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
