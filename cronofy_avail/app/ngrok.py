"""Find the public URL of a running ngrok agent through its local API (``GET /api/tunnels``).

ngrok gives a new public URL on every run (on the free plan), so ``cronofy-avail setup`` and
``serve`` ask the agent instead of making people copy it. An agent that is not running, not
answering in time or answering something unexpected yields ``None``: the caller then says that
``--public-url`` is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

DEFAULT_AGENT_URL = "http://127.0.0.1:4040"
_TIMEOUT = aiohttp.ClientTimeout(total=3, connect=2)


@dataclass(frozen=True, slots=True)
class Tunnel:
    public_url: str
    proto: str
    addr: str | None


def parse_tunnels(payload: Any) -> list[Tunnel]:
    """The tunnels of an ``/api/tunnels`` answer; anything malformed is skipped."""
    tunnels: list[Tunnel] = []
    items = payload.get("tunnels") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        return tunnels
    for item in items:
        if not isinstance(item, dict):
            continue
        url = item.get("public_url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            continue
        config = item.get("config")
        addr = config.get("addr") if isinstance(config, dict) else None
        proto = item.get("proto")
        tunnels.append(
            Tunnel(
                public_url=url.rstrip("/"),
                proto=proto if isinstance(proto, str) else urlsplit(url).scheme,
                addr=addr if isinstance(addr, str) else None,
            )
        )
    return tunnels


def forwards_to(tunnel: Tunnel, port: int) -> bool:
    """Whether the tunnel forwards to local ``port`` (``8080``, ``:8080``, ``host:8080``,
    ``http://host:8080``); an unknown address does not."""
    if tunnel.addr is None:
        return False
    if tunnel.addr.isdigit():
        return int(tunnel.addr) == port
    addr = tunnel.addr if "://" in tunnel.addr else f"http://{tunnel.addr}"
    try:
        return urlsplit(addr).port == port
    except ValueError:
        return False


def choose_tunnel(tunnels: list[Tunnel], port: int | None = None) -> Tunnel | None:
    """The best tunnel, https over http; when ``port`` is given, only a tunnel to that port
    (a tunnel to another port would deliver to something else): ``None`` if there is none."""
    candidates = tunnels if port is None else [t for t in tunnels if forwards_to(t, port)]
    if not candidates:
        return None

    def rank(tunnel: Tunnel) -> int:
        return 0 if urlsplit(tunnel.public_url).scheme == "https" else 1

    return sorted(candidates, key=rank)[0]


async def list_tunnels(
    agent_url: str = DEFAULT_AGENT_URL, session: aiohttp.ClientSession | None = None
) -> list[Tunnel] | None:
    """The agent's tunnels, or ``None`` when the agent cannot be asked."""
    own = session is None
    http = session or aiohttp.ClientSession()
    try:
        async with http.get(
            agent_url.rstrip("/") + "/api/tunnels",
            timeout=_TIMEOUT,
            allow_redirects=False,
            headers={"Accept": "application/json"},
        ) as response:
            if response.status != 200:
                return None
            payload = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    finally:
        if own:
            await http.close()
    return parse_tunnels(payload)


async def discover_public_url(
    agent_url: str = DEFAULT_AGENT_URL,
    session: aiohttp.ClientSession | None = None,
    *,
    port: int | None = None,
) -> str | None:
    """The public URL of the agent's best tunnel (https preferred); when ``port`` is given,
    ``None`` unless a tunnel forwards to that port."""
    tunnels = await list_tunnels(agent_url, session)
    chosen = choose_tunnel(tunnels or [], port)
    return chosen.public_url if chosen else None
