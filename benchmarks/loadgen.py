"""A small load generator, run as its own process so it does not share the receiver's loop or
core budget with the server it measures: ``python -m benchmarks.loadgen SPEC_JSON`` (or
``@FILE`` holding it).

SPEC: ``{"url", "body" (text), "headers", "mode": "rate"|"burst", "connections", "seconds"
(rate), "requests" (burst)}``. Prints one JSON line: completed requests, requests per second,
latency p50/p99 in seconds, and the status codes seen.

* ``rate``: ``connections`` keep-alive clients post back to back for ``seconds``;
* ``burst``: ``requests`` posts sent at once over at most ``connections`` (100) warm ones.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def _rate(spec: dict[str, Any]) -> dict[str, Any]:
    body = spec["body"].encode()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    deadline = time.perf_counter() + float(spec["seconds"])
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        urls = spec.get("urls") or [spec["url"]]

        async def worker(url: str) -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                async with session.post(url, data=body, headers=spec["headers"]) as r:
                    await r.read()
                    statuses[r.status] += 1
                latencies.append(time.perf_counter() - start)

        # Warm up the connections first (not counted).
        async def warm(url: str) -> None:
            async with session.post(url, data=body, headers=spec["headers"]) as r:
                await r.read()

        await asyncio.gather(*(warm(u) for u in urls * 2))
        begin = time.perf_counter()
        deadline = begin + float(spec["seconds"])
        count = int(spec["connections"])
        await asyncio.gather(*(worker(urls[i % len(urls)]) for i in range(count)))
        elapsed = time.perf_counter() - begin
    return {
        "completed": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50": _percentile(latencies, 0.5),
        "p99": _percentile(latencies, 0.99),
        "statuses": {str(k): v for k, v in statuses.items()},
    }


async def _burst(spec: dict[str, Any]) -> dict[str, Any]:
    body = spec["body"].encode()
    n = int(spec["requests"])
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    # At most ``connections`` open at once (kept alive and warmed first): more brand-new
    # connections than the receiver lets wait for a request head (128) would be shed by its
    # slow-client guard, which is not what this figure measures.
    connector = aiohttp.TCPConnector(limit=int(spec.get("connections", 100)))
    async with aiohttp.ClientSession(connector=connector) as session:
        gate = asyncio.Event()
        urls_ = spec.get("urls") or [spec["url"]]

        async def warm(url: str) -> None:
            async with session.post(url, data=body, headers=spec["headers"]) as r:
                await r.read()

        await asyncio.gather(
            *(warm(urls_[i % len(urls_)]) for i in range(int(spec.get("connections", 100))))
        )

        urls = spec.get("urls") or [spec["url"]]

        async def one(url: str) -> None:
            await gate.wait()
            start = time.perf_counter()
            async with session.post(url, data=body, headers=spec["headers"]) as r:
                await r.read()
                statuses[r.status] += 1
            latencies.append(time.perf_counter() - start)

        tasks = [asyncio.create_task(one(urls[i % len(urls)])) for i in range(n)]
        await asyncio.sleep(0)
        begin = time.perf_counter()
        gate.set()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - begin
    return {
        "completed": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50": _percentile(latencies, 0.5),
        "p99": _percentile(latencies, 0.99),
        "statuses": {str(k): v for k, v in statuses.items()},
    }


def main() -> None:
    given = sys.argv[1]
    # ``@FILE``: the spec in a file (10,000 users' URLs exceed the argument list's limit).
    spec = json.loads(Path(given[1:]).read_text() if given.startswith("@") else given)
    run = _rate if spec["mode"] == "rate" else _burst
    print(json.dumps(asyncio.run(run(spec))), flush=True)


if __name__ == "__main__":
    main()
