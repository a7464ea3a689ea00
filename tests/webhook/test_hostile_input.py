"""The receiver against hostile and awkward input, over real sockets.

A genuine delivery split across TCP writes or chunked must verify; hostile input gets a 4xx
with a short reason, never a 500 or a traceback, and changes nothing.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from cronofy_avail.core.signatures import SIGNATURE_HEADER, sign
from cronofy_avail.runtime.store import MemoryStore, StoredCredentials, UserRecord, UserState
from tests.support.webhook import SECRET, Harness, assert_untouched, body, build
from webhook_server import async_setup


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    store = MemoryStore()
    user = UserRecord(
        user_id="u1",
        credentials=StoredCredentials("access-token-VERY-SECRET", "refresh-token-VERY-SECRET"),
        calendar_id="cal_sub",
        channel_id="chn_1",
        state=UserState.IDLE,
    )
    await store.save_user(user)
    app = web.Application()
    config = build(store)
    handle = await async_setup(app, config)
    client = TestClient(TestServer(app))
    await client.start_server()
    yield Harness(client, store, config.coordinator, handle, user)
    await client.close()
    await handle.async_unload()


async def raw_exchange(h: Harness, parts: list[bytes]) -> tuple[int, bytes]:
    """Send ``parts`` as separate TCP writes; before each later part, make sure the server has
    not answered yet (it must wait for the whole body). Returns (status, response bytes)."""
    port = h.client.server.port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for i, part in enumerate(parts):
            if i:
                # The server must still be waiting for the rest of the body.
                try:
                    early = await asyncio.wait_for(reader.read(1), timeout=0.2)
                except TimeoutError:
                    early = b""
                assert early == b"", "the server answered before the body was complete"
            writer.write(part)
            await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    status = int(data.split(b" ", 2)[1])
    return status, data


def head(h: Harness, extra: str) -> bytes:
    return (
        f"POST {h.url()} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\n{extra}\r\n"
    ).encode()


async def test_a_body_in_two_tcp_writes_verifies(h: Harness) -> None:
    data = body()
    half = len(data) // 2
    headers = f"Content-Length: {len(data)}\r\n{SIGNATURE_HEADER}: {sign(data, SECRET)}\r\n"
    status, _ = await raw_exchange(h, [head(h, headers) + data[:half], data[half:]])
    assert status == 202
    user = await h.store.get_user("u1")
    assert user is not None
    assert user.pending_since is not None


async def test_a_chunked_body_verifies(h: Harness) -> None:
    data = body()
    half = len(data) // 2
    headers = f"Transfer-Encoding: chunked\r\n{SIGNATURE_HEADER}: {sign(data, SECRET)}\r\n"

    def chunk(b: bytes) -> bytes:
        return f"{len(b):x}\r\n".encode() + b + b"\r\n"

    status, _ = await raw_exchange(
        h, [head(h, headers) + chunk(data[:half]), chunk(data[half:]) + b"0\r\n\r\n"]
    )
    assert status == 202


async def post_raw(h: Harness, data: bytes, headers: dict[str, str]) -> tuple[int, str]:
    resp = await h.client.post(h.url(), data=data, headers=headers)
    text = await resp.text()
    return resp.status, text


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\x1f\x8b garbage, not gzip", id="garbage"),
        pytest.param(gzip.compress(b"x" * 5000), id="bomb-over-cap"),
    ],
)
async def test_gzip_garbage_or_oversize_is_4xx(
    h: Harness, payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    status, text = await post_raw(
        h, payload, {"Content-Encoding": "gzip", SIGNATURE_HEADER: sign(payload, SECRET)}
    )
    assert 400 <= status < 500, text
    assert "Traceback" not in text
    await assert_untouched(h)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def signed_note(**note: object) -> tuple[bytes, dict[str, str]]:
    data = json.dumps(
        {"notification": note, "channel": {"channel_id": "chn_1", "callback_url": "https://x/y"}}
    ).encode()
    return data, {SIGNATURE_HEADER: sign(data, SECRET)}


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(signed_note(type="change", changes_since="0001-01-01T00:00:00Z"), id="y1"),
        pytest.param(signed_note(type="change", changes_since="9999-12-31T23:59:59Z"), id="y9999"),
        # No UTC instant exists for these (issue 22, item 10: an OverflowError gave 500).
        pytest.param(
            signed_note(type="change", changes_since="0001-01-01T00:00:00+14:00"), id="y1+14"
        ),
        pytest.param(
            signed_note(type="change", changes_since="9999-12-31T23:59:59-14:00"), id="y9999-14"
        ),
        pytest.param(signed_note(type="\ud800"), id="lone-surrogate"),
        pytest.param(
            (b'{"notification":' + b"[" * 10000 + b"]" * 10000 + b"}", {}), id="deep-json"
        ),
    ],
)
async def test_signed_extremes_get_a_4xx_and_change_nothing(
    h: Harness, raw: tuple[bytes, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    data, headers = raw
    if not headers:
        headers = {SIGNATURE_HEADER: sign(data, SECRET)}
    h.handle.config.max_body = 64 * 1024
    status, text = await post_raw(h, data, headers)
    assert 400 <= status < 500, text
    assert "Traceback" not in text
    await assert_untouched(h)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "path",
    [
        "/cronofy/deliveries?limit=abc",
        "/cronofy/deliveries?limit=-5",
        "/cronofy/deliveries?limit=9" * 1,
    ],
)
async def test_bad_admin_queries_are_4xx(h: Harness, path: str) -> None:
    resp = await h.client.get(path)
    assert resp.status < 500
    assert "Traceback" not in await resp.text()


@pytest.mark.parametrize("delivery_id", ["²", "9" * 5000, "-1", "1e3"])
async def test_replay_of_odd_ids_is_404(h: Harness, delivery_id: str) -> None:
    resp = await h.client.post(f"/cronofy/deliveries/{delivery_id}/replay")
    assert resp.status == 404
    await assert_untouched(h)


async def test_status_type_counters_are_bounded(h: Harness) -> None:
    for i in range(300):
        data, headers = signed_note(type=f"made_up_type_{i}")
        status, _ = await post_raw(h, data, headers)
        assert status == 202
    status_page = await h.handle.status()
    accepted = status_page["deliveries"]["accepted"]
    assert len(accepted) <= 65
    assert sum(accepted.values()) == 300


async def test_aiohttp_logs_never_carry_the_callback_key(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    data = body()
    await post_raw(h, data, {SIGNATURE_HEADER: sign(data, SECRET)})
    garbage = b"\x1f\x8b not gzip"
    await post_raw(h, garbage, {"Content-Encoding": "gzip"})
    records = [r for r in caplog.records if r.name.startswith("aiohttp")]
    assert records, "aiohttp logged nothing: the scan would prove nothing"
    for record in records:
        text = record.getMessage() + (record.exc_text or "")
        assert h.user.callback_key not in text
