"""The receiver under slow clients and the admin views under hostile browsers.

Real sockets against a real ``WebhookServer``; ``serve`` through its command.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import AsyncIterator

import aiohttp
import pytest

from cronofy_avail.app.admin_token import admin_token_path
from cronofy_avail.core.signatures import SIGNATURE_HEADER, sign
from cronofy_avail.runtime.serving import ConnectionLimits
from cronofy_avail.runtime.store import MemoryStore, StoredCredentials, UserRecord, UserState
from tests.support.commands import Cli, Served, cli, closed_port, emulator
from tests.support.wait import until
from tests.support.webhook import SECRET, body, build
from webhook_server import WebhookServer

__all__ = ["cli", "emulator"]  # fixtures used by name

TOKEN = "ADMIN-tok-5ecret-0c1d2e3f4a5b"


@pytest.fixture
async def server() -> AsyncIterator[WebhookServer]:
    async with serving(header_timeout=0.5) as srv:
        yield srv


@pytest.fixture
async def patient_server() -> AsyncIterator[WebhookServer]:
    """Heads may take 30 s: only eviction, never the header timeout, closes the flood."""
    async with serving(header_timeout=30.0) as srv:
        yield srv


@contextlib.asynccontextmanager
async def serving(*, header_timeout: float) -> AsyncIterator[WebhookServer]:
    store = MemoryStore()
    await store.save_user(
        UserRecord(
            user_id="u1",
            callback_key="KEY-cb-5ecret-aaaaaaaaaaaa",
            credentials=StoredCredentials("at", "rt"),
            calendar_id="cal_sub",
            channel_id="chn_1",
            state=UserState.IDLE,
        )
    )
    config = build(store, admin_token=TOKEN)
    config.allowed_hosts = ["127.0.0.1", "localhost"]
    config.body_timeout = 0.3
    srv = WebhookServer(
        config, limits=ConnectionLimits(header_timeout=header_timeout, max_pending=16)
    )
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


def genuine(srv: WebhookServer) -> tuple[str, bytes, dict[str, str]]:
    data = body()
    url = f"{srv.url}/notifications/KEY-cb-5ecret-aaaaaaaaaaaa"
    return url, data, {SIGNATURE_HEADER: sign(data, SECRET)}


async def test_a_flood_of_half_sent_requests_does_not_stop_a_genuine_delivery(
    patient_server: WebhookServer,
) -> None:
    # A patient server (a long head timeout): with a short one (0.5 s) a loaded machine closes
    # the early connections by timeout, not eviction, and ``evicted >= 184`` cannot hold.
    server = patient_server
    writers: list[asyncio.StreamWriter] = []
    try:
        for _ in range(200):
            _, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"POST /cronofy/notifications/x HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            await writer.drain()
            writers.append(writer)
        url, data, headers = genuine(server)
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=data, headers=headers) as resp,
        ):
            assert resp.status == 202
    finally:
        for writer in writers:
            writer.close()
    # 200 half-sent heads and the genuine delivery's own (pending until its head is in), 16 kept.
    assert server.limits.evicted == 200 + 1 - 16


async def test_a_client_that_never_finishes_its_head_is_disconnected(
    server: WebhookServer,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /cronofy/notifications/x HTTP/1.1\r\nHost: 127.0")
    await writer.drain()
    async with asyncio.timeout(10):
        assert await reader.read() == b""  # closed by the server, not answered
    writer.close()


async def test_a_body_that_never_arrives_is_408(server: WebhookServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"POST /cronofy/notifications/KEY-cb-5ecret-aaaaaaaaaaaa HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nCronofy-HMAC-SHA256: c2ln\r\n"
        b'Content-Length: 100\r\n\r\n{"notif'
    )
    await writer.drain()
    async with asyncio.timeout(10):
        head = await reader.readline()
    assert b" 408 " in head
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


@pytest.mark.parametrize(
    ("key", "signature", "status"),
    [
        ("KEY-unknown-aaaaaaaaaaaaaaaaaa", "Cronofy-HMAC-SHA256: c2ln\r\n", b" 404 "),
        ("KEY-cb-5ecret-aaaaaaaaaaaa", "", b" 401 "),
    ],
)
async def test_a_refused_delivery_is_answered_before_its_body_is_read(
    patient_server: WebhookServer, key: str, signature: str, status: bytes
) -> None:
    # The key is looked up and the signature header checked before the body is read (up to
    # body_timeout): read first, slow bodies of refused requests would pile up.
    # The body below never completes: only an answer given before reading it can arrive.
    patient_server.config.body_timeout = 60.0
    reader, writer = await asyncio.open_connection("127.0.0.1", patient_server.port)
    writer.write(
        f"POST /cronofy/notifications/{key} HTTP/1.1\r\nHost: 127.0.0.1\r\n{signature}"
        'Content-Length: 100\r\n\r\n{"notif'.encode()
    )
    await writer.drain()
    async with asyncio.timeout(10):
        head = await reader.readline()
    assert status in head
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 403),
        ({"Authorization": f"Bearer {TOKEN}"}, 200),
        ({"Authorization": f"Bearer {TOKEN}", "Host": "evil.example"}, 403),
        ({"Authorization": f"Bearer {TOKEN}", "Origin": "http://evil.example"}, 403),
        ({"Authorization": f"Bearer {TOKEN}", "Sec-Fetch-Site": "cross-site"}, 403),
        ({"Authorization": "Bearer wrong"}, 403),
    ],
)
async def test_admin_views_need_the_token_the_host_and_the_same_site(
    server: WebhookServer, headers: dict[str, str], status: int
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{server.url}/status", headers=headers) as resp,
    ):
        assert resp.status == status
        text = await resp.text()
    assert TOKEN not in text
    assert "KEY-cb-5ecret" not in text


async def test_serve_makes_an_owner_only_admin_token_shows_it_masked_and_replay_uses_it(
    cli: Cli,
) -> None:
    port = closed_port()
    public = f"http://127.0.0.1:{port}"
    await cli.setup(public)
    async with Served(cli, port, public_url=public) as served:
        path = admin_token_path(cli.db)
        token = path.read_text().strip()
        cli.extra_secrets.append(token)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert f"Admin token {token[:4]}…" in served.text
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{public}/cronofy/status") as resp:
                assert resp.status == 403  # loopback alone is no longer enough
            auth = {"Authorization": f"Bearer {token}"}
            async with session.get(f"{public}/cronofy/status", headers=auth) as resp:
                assert resp.status == 200
        _, text = await cli.run("replay", "1", "--server", f"{public}/cronofy")
        assert "server answered 403" not in text, text
    # The same token on the next start.
    async with Served(cli, port, public_url=public):
        assert path.read_text().strip() == token


SLOW_HEAD = (
    b"POST /cronofy/notifications/KEY-cb-5ecret-aaaaaaaaaaaa HTTP/1.1\r\n"
    b"Host: 127.0.0.1\r\nCronofy-HMAC-SHA256: c2ln\r\n"
    b'Content-Length: 100\r\n\r\n{"notif'
)
"""A signed delivery's head and the start of a body that never finishes."""


@contextlib.asynccontextmanager
async def a_slow_body_holding_the_bound(server: WebhookServer) -> AsyncIterator[None]:
    """One slow body holding the receiver's only body read (``max_body_reads = 1``)."""
    handle = server.handle
    assert handle is not None
    server.config.max_body_reads = 1
    server.config.body_timeout = 60.0
    _, slow = await asyncio.open_connection("127.0.0.1", server.port)
    slow.write(SLOW_HEAD)
    await slow.drain()
    try:
        await until(lambda: handle._body_reads == 1, within=10, what="the slow body's read")
        assert handle._body_reads == 1
        yield
    finally:
        slow.close()


async def test_bodies_read_at_once_are_bounded(patient_server: WebhookServer) -> None:
    # Slow bodies of signed requests are bounded in number;
    # beyond the bound a delivery is told to come back (503 with Retry-After), not held.
    async with a_slow_body_holding_the_bound(patient_server):
        reader, writer = await asyncio.open_connection("127.0.0.1", patient_server.port)
        writer.write(SLOW_HEAD)
        await writer.drain()
        async with asyncio.timeout(10):
            status = await reader.readline()
            rest = await reader.readuntil(b"\r\n\r\n")
        assert b" 503 " in status
        assert b"Retry-After: 5" in rest
        writer.close()


async def test_a_complete_delivery_is_not_refused_while_slow_bodies_hold_the_bound(
    patient_server: WebhookServer,
) -> None:
    # The bound is on bodies still arriving (each holds a read and a timer); a delivery whose
    # body came whole with its head waits for nothing, so it is answered, not told to retry.
    handle = patient_server.handle
    assert handle is not None
    async with a_slow_body_holding_the_bound(patient_server):
        _, data, headers = genuine(patient_server)
        whole = (
            b"POST /cronofy/notifications/KEY-cb-5ecret-aaaaaaaaaaaa HTTP/1.1\r\n"
            b"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"{SIGNATURE_HEADER}: {headers[SIGNATURE_HEADER]}\r\n".encode()
            + f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        reader, writer = await asyncio.open_connection("127.0.0.1", patient_server.port)
        writer.write(whole)  # head and body in one write
        await writer.drain()
        async with asyncio.timeout(10):
            status = await reader.readline()
        assert b" 202 " in status, status
        assert handle.rejected["busy"] == 0
        assert handle._body_reads == 1  # the slow one still holds its read
        writer.close()


async def test_an_undecodable_admin_token_is_refused_not_a_crash(server: WebhookServer) -> None:
    """Raw bytes that are not UTF-8 in ``Authorization`` used to raise UnicodeEncodeError
    in the token comparison (500 and a traceback in the log)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"GET /cronofy/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Authorization: Bearer \xff\xfe\r\n\r\n"
    )
    await writer.drain()
    async with asyncio.timeout(10):
        answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 403"), answer[:100]
