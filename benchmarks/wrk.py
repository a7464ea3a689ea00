"""``wrk`` as the load generator for the rate figure (P1), when it is installed.

The Python generator (``benchmarks.loadgen``) spends more CPU per request (~170 us on the
2-core machine) than a bare aiohttp handler does answering it (~55 us): sharing two cores
with the server, it cannot push the bare handler to its limit, so a ratio against that
handler measures the generator as much as the server. ``wrk`` (C, ~15 us a request) leaves
the server as the bottleneck. Optional: ``apt-get install wrk``; without it the figures use
the Python generator and say so.

The spec and the result have the shape of ``benchmarks.loadgen``'s ``rate`` mode.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_DONE = """
done = function(summary, latency, requests)
  io.write(string.format(
    "WRK-JSON {\\"completed\\": %d, \\"seconds\\": %f, \\"p50\\": %f, \\"p99\\": %f, "
    .. "\\"non_2xx\\": %d, \\"errors\\": %d}\\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e6,
    latency:percentile(99) / 1e6, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout))
end
"""


def available() -> str | None:
    """The ``wrk`` executable, or ``None``."""
    return shutil.which("wrk")


def _script(spec: dict[str, Any]) -> str:
    paths = [urlsplit(u).path for u in (spec.get("urls") or [spec["url"]])]
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(spec['body'])}"]
    for name, value in spec["headers"].items():
        lines.append(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}")
    # The same rotation over the users' URLs as the Python generator's workers.
    lines.append("local paths = {" + ", ".join(json.dumps(p) for p in paths) + "}")
    lines.append("local i = 0")
    lines.append(
        "request = function() i = i + 1; return wrk.format(nil, paths[(i % #paths) + 1]) end"
    )
    return "\n".join(lines) + _DONE


async def start(
    executable: str, script: Path, base_url: str, *, connections: int, seconds: float
) -> asyncio.subprocess.Process:
    """One wrk thread (the other core is the server's) running ``script`` against ``base_url``
    with ``connections`` keep-alive connections for ``seconds``: whole seconds, as wrk takes
    no fractions (it answers "-d0.5s" with its usage on stdout and nothing on stderr)."""
    if seconds < 1 or not float(seconds).is_integer():
        raise ValueError(f"wrk runs for whole seconds (at least 1), not {seconds:g}")
    return await asyncio.create_subprocess_exec(
        executable,
        "-t1",
        f"-c{connections}",
        f"-d{int(seconds)}s",
        "-s",
        str(script),
        base_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def rate(spec: dict[str, Any], executable: str) -> dict[str, Any]:
    """``connections`` keep-alive connections posting back to back for ``seconds`` (see
    :func:`start`)."""
    url = urlsplit(spec["url"])
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(_script(spec))
        process = await start(
            executable,
            script,
            f"{url.scheme}://{url.netloc}",
            connections=int(spec["connections"]),
            seconds=float(spec["seconds"]),
        )
        out, err = await process.communicate()
    lines = [line for line in out.decode().splitlines() if line.startswith("WRK-JSON ")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({process.returncode}): {err.decode().strip()[:200]}")
    raw: dict[str, Any] = json.loads(lines[-1][len("WRK-JSON ") :])
    completed = int(raw["completed"])
    bad = int(raw["non_2xx"]) + int(raw["errors"])
    return {
        "completed": completed,
        "per_second": completed / float(raw["seconds"]),
        "p50": float(raw["p50"]),
        "p99": float(raw["p99"]),
        # wrk counts answers outside 2xx/3xx; every answer expected here is a 202.
        "statuses": {"202": completed - bad, **({"other": bad} if bad else {})},
    }
