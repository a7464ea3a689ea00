"""Hostile input, generated: random bodies, headers, signatures, encodings, sizes and chunking
against a running receiver over a real socket.

Whatever arrives: never a 5xx, never a traceback, and without a valid signature no state
change and no sync requested (so no Cronofy call).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cronofy_avail.core.signatures import SIGNATURE_HEADER, sign
from cronofy_avail.runtime.serving import ConnectionLimits
from cronofy_avail.runtime.store import MemoryStore, StoredCredentials, UserRecord, UserState
from tests.support.webhook import SECRET, build
from webhook_server import WebhookServer

KEY = "fuzzkey-aaaaaaaaaaaaaaaaaaaaaaaa"

NOTE = st.fixed_dictionaries(
    {
        "notification": st.fixed_dictionaries(
            {
                "type": st.one_of(
                    st.sampled_from(["change", "verification", "profile_disconnected"]),
                    st.text(max_size=20),
                ),
                "changes_since": st.one_of(
                    st.none(),
                    st.sampled_from(
                        ["2026-11-24T09:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]
                    ),
                    st.text(max_size=30),
                ),
            }
        ),
        "channel": st.fixed_dictionaries({"channel_id": st.text(max_size=10)}),
    }
)
GENUINE_CHANGE = json.dumps(
    {
        "notification": {"type": "change", "changes_since": "2026-11-24T09:00:00Z"},
        "channel": {"channel_id": "chn_1", "callback_url": "https://x.example/y"},
    }
).encode()
BODY = st.one_of(
    st.just(GENUINE_CHANGE),
    st.binary(max_size=2000),
    NOTE.map(lambda d: json.dumps(d).encode("utf-8", "surrogatepass")),
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, list[bytes], bool]:
    """(raw request split into writes, whether the signature is genuine for the body)."""
    body = draw(BODY)
    signature_kind = draw(st.sampled_from(["none", "random", "other_secret", "valid", "multi"]))
    headers = [f"POST /cronofy/notifications/{KEY} HTTP/1.1", "Host: 127.0.0.1"]
    if signature_kind == "random":
        headers.append(f"{SIGNATURE_HEADER}: {draw(st.text(alphabet='abcXYZ+/=,', max_size=60))}")
    elif signature_kind == "other_secret":
        headers.append(f"{SIGNATURE_HEADER}: {sign(body, 'not-the-secret')}")
    elif signature_kind in ("valid", "multi"):
        value = sign(body, SECRET)
        if signature_kind == "multi":
            value = f"{sign(body, 'nope')},{value}"
        headers.append(f"{SIGNATURE_HEADER}: {value}")
    encoding = draw(st.sampled_from(["identity", "gzip", "gzip_garbage", "bogus"]))
    sent = body
    if encoding == "gzip":
        sent = gzip.compress(body)
        headers.append("Content-Encoding: gzip")
    elif encoding == "gzip_garbage":
        sent = b"\x1f\x8b" + body
        headers.append("Content-Encoding: gzip")
    elif encoding == "bogus":
        headers.append("Content-Encoding: x-unknown")
    if draw(st.booleans()):
        headers.append("Transfer-Encoding: chunked")
        cuts = sorted(draw(st.lists(st.integers(0, len(sent)), max_size=4)))
        pieces = [sent[a:b] for a, b in zip([0, *cuts], [*cuts, len(sent)], strict=True)]
        payload = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces if p)
        payload += b"0\r\n\r\n"
    else:
        headers.append(f"Content-Length: {len(sent)}")
        payload = sent
    headers.append("Connection: close")
    head = ("\r\n".join(headers) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    raw = head + payload
    cuts = sorted(draw(st.lists(st.integers(1, max(1, len(raw) - 1)), max_size=3)))
    writes = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    # An unknown encoding leaves the bytes as sent: a valid signature over them is genuine.
    genuine = signature_kind in ("valid", "multi") and encoding != "gzip_garbage"
    return raw, [w for w in writes if w], genuine


async def exchange(store: MemoryStore, writes: list[bytes]) -> tuple[bytes, int]:
    config = build(store)
    config.max_body = 4096
    server = WebhookServer(config, limits=ConnectionLimits(header_timeout=5, max_pending=8))
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            for part in writes:
                writer.write(part)
                await writer.drain()
            async with asyncio.timeout(10):
                answer = await reader.read()
        finally:
            writer.close()
        requests_made = sum(config.coordinator.stats.requests.values())
    finally:
        await server.stop()
    return answer, requests_made


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(request_parts=requests())
def test_hostile_requests_never_5xx_and_change_nothing_unsigned(
    request_parts: tuple[bytes, list[bytes], bool], caplog: pytest.LogCaptureFixture
) -> None:
    _, writes, genuine = request_parts
    caplog.clear()
    store = MemoryStore()
    user = UserRecord(
        user_id="u1",
        callback_key=KEY,
        credentials=StoredCredentials("at", "rt"),
        calendar_id="cal_sub",
        channel_id="chn_1",
        state=UserState.NEEDS_REAUTH,  # a sync that is requested goes no further
    )
    asyncio.run(store.save_user(user))
    answer, requests_made = asyncio.run(exchange(store, writes))
    if answer:  # the server may close a connection whose request it cannot parse
        status = int(answer.split(b" ", 2)[1])
        assert status < 500, answer[:300]
    assert b"Traceback" not in answer
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    if not genuine:
        after = asyncio.run(store.get_user("u1"))
        assert after is not None
        assert (after.pending_since, after.pending_full, after.pending_gen) == (None, False, 0)
        assert after.state == UserState.NEEDS_REAUTH
        assert asyncio.run(store.list_deliveries()) == []
        assert requests_made == 0
