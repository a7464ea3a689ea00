"""ngrok discovery against a local HTTP endpoint shaped like the agent API."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from cronofy_avail.app.ngrok import (
    Tunnel,
    choose_tunnel,
    discover_public_url,
    forwards_to,
    parse_tunnels,
)

AGENT_SHAPE = {
    "tunnels": [
        {
            "public_url": "https://abc.ngrok-free.app",
            "proto": "https",
            "config": {"addr": "http://localhost:8080"},
        }
    ]
}

StartAgent = Callable[[Any, int], Awaitable[str]]


@pytest.fixture
async def agent() -> AsyncIterator[StartAgent]:
    runners: list[web.AppRunner] = []

    async def start(payload: Any, status: int = 200) -> str:
        async def tunnels(request: web.Request) -> web.Response:
            if isinstance(payload, str):
                return web.Response(text=payload, status=status)
            return web.json_response(payload, status=status)

        app = web.Application()
        app.router.add_get("/api/tunnels", tunnels)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_discovers_the_agent_shape(agent: StartAgent) -> None:
    url = await agent(AGENT_SHAPE, 200)
    assert await discover_public_url(url) == "https://abc.ngrok-free.app"


async def test_prefers_https_and_the_matching_port(agent: StartAgent) -> None:
    payload = {
        "tunnels": [
            {"public_url": "http://plain.ngrok.io", "proto": "http", "config": {"addr": ":8080"}},
            {
                "public_url": "https://other.ngrok-free.app",
                "proto": "https",
                "config": {"addr": "http://localhost:9999"},
            },
            {
                "public_url": "https://mine.ngrok-free.app/",
                "proto": "https",
                "config": {"addr": "http://localhost:8080"},
            },
        ]
    }
    url = await agent(payload, 200)
    assert await discover_public_url(url, port=8080) == "https://mine.ngrok-free.app"
    assert await discover_public_url(url) in (
        "https://other.ngrok-free.app",
        "https://mine.ngrok-free.app",
    )


async def test_unreachable_agent_is_none() -> None:
    assert await discover_public_url(f"http://127.0.0.1:{closed_port()}") is None


@pytest.mark.parametrize(
    ("payload", "status"),
    [({"tunnels": []}, 200), ("not json", 200), ({"error": "x"}, 500), ({"tunnels": "x"}, 200)],
)
async def test_no_usable_tunnel_is_none(agent: StartAgent, payload: Any, status: int) -> None:
    url = await agent(payload, status)
    assert await discover_public_url(url) is None


def test_parse_skips_malformed_entries() -> None:
    tunnels = parse_tunnels(
        {"tunnels": [1, {"public_url": "tcp://0.tcp.ngrok.io:1"}, {"public_url": "https://a.b"}]}
    )
    assert [t.public_url for t in tunnels] == ["https://a.b"]
    assert choose_tunnel([]) is None


async def test_a_port_without_a_tunnel_is_none(agent: StartAgent) -> None:
    """A tunnel to another local port would deliver to something else: never chosen."""
    payload = {
        "tunnels": [
            {
                "public_url": "https://other.ngrok-free.app",
                "proto": "https",
                "config": {"addr": "http://localhost:9999"},
            },
            {"public_url": "https://bare.ngrok-free.app", "proto": "https", "config": {}},
        ]
    }
    url = await agent(payload, 200)
    assert await discover_public_url(url, port=8080) is None
    assert await discover_public_url(url, port=9999) == "https://other.ngrok-free.app"


def test_forwards_to_address_forms() -> None:
    def tunnel(addr: str | None) -> Tunnel:
        return Tunnel(public_url="https://a.b", proto="https", addr=addr)

    for addr in ("8080", ":8080", "localhost:8080", "http://localhost:8080", "https://h:8080"):
        assert forwards_to(tunnel(addr), 8080), addr
    for other in ("9999", "localhost:9999", None, "http://[bad"):
        assert not forwards_to(tunnel(other), 8080), other
