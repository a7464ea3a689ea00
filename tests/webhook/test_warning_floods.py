"""Warnings that clients cause, counted instead of repeated: a flood of malformed requests or
refused deliveries logs the first few lines, then one line per interval that says how many it
stands for; a client that hangs up mid-body is an info line, never an error or a traceback.

Real sockets against a real ``WebhookServer``; the throttle's clock is injected, so time moves
by assignment, never by sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from cronofy_avail.core.signatures import SIGNATURE_HEADER
from cronofy_avail.runtime.store import MemoryStore, StoredCredentials, UserRecord, UserState
from tests.support.wait import until
from tests.support.webhook import build
from webhook_server import WebhookServer
from webhook_server.throttle import MAX_KINDS, WarningThrottle

KEY = "KEY-cb-5ecret-bbbbbbbbbbbb"
FLOOD = 200
BURST = 5
INTERVAL = 60.0


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------------- the throttle alone


def test_the_first_few_pass_then_one_line_per_interval_counts_the_rest() -> None:
    clock = Clock()
    throttle = WarningThrottle(burst=3, interval=INTERVAL, clock=clock)
    first = [throttle.admit("bad") for _ in range(10)]
    assert [a is not None for a in first] == [True] * 3 + [False] * 7
    assert first[2] is not None
    assert first[2].last_of_burst
    assert "counted, and summarized once per 60s" in first[2].note
    clock.now += INTERVAL - 1
    assert throttle.admit("bad") is None  # still the same interval: 8 counted
    clock.now += 1
    summary = throttle.admit("bad")
    assert summary is not None
    assert summary.note == " (suppressed 8 similar warnings in the last 60s)"
    # The flood goes on: one line per interval, not a new burst.
    assert [throttle.admit("bad") for _ in range(4)] == [None] * 4
    clock.now += INTERVAL
    again = throttle.admit("bad")
    assert again is not None
    assert again.note == " (suppressed 4 similar warnings in the last 60s)"


def test_a_quiet_interval_starts_a_fresh_burst_and_kinds_count_apart() -> None:
    clock = Clock()
    throttle = WarningThrottle(burst=2, interval=INTERVAL, clock=clock)
    assert throttle.admit("a") is not None
    assert throttle.admit("a") is not None
    assert throttle.admit("b") is not None  # another kind has its own burst
    clock.now += INTERVAL
    fresh = [throttle.admit("a") for _ in range(3)]
    assert [a is not None and a.suppressed == 0 for a in fresh] == [True, True, False]


def test_flush_hands_over_what_is_still_counted() -> None:
    clock = Clock()
    throttle = WarningThrottle(burst=1, interval=INTERVAL, clock=clock)
    for _ in range(4):
        throttle.admit("a")
    throttle.admit("b")
    clock.now += 12
    assert throttle.flush() == [("a", 3, 12.0)]
    assert throttle.flush() == []


def test_kinds_beyond_the_bound_share_one_count() -> None:
    throttle = WarningThrottle(burst=1, clock=Clock())
    for i in range(MAX_KINDS + 50):
        throttle.admit(f"kind {i}")
    pending = throttle.flush()
    assert pending == [("(other warnings)", 49, 0.0)]


def test_a_throttle_needs_a_burst_and_an_interval() -> None:
    with pytest.raises(ValueError, match="burst"):
        WarningThrottle(burst=0)
    with pytest.raises(ValueError, match="interval"):
        WarningThrottle(interval=0)


# ---------------------------------------------------------------------- the receiver


@dataclass
class Receiver:
    server: WebhookServer
    clock: Clock

    @property
    def rejected(self) -> dict[str, int]:
        assert self.server.handle is not None
        return dict(self.server.handle.rejected)

    async def exchange(self, data: bytes) -> bytes:
        """Send one raw request; read until the server closes (it has logged by then)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.server.port)
        try:
            writer.write(data)
            await writer.drain()
            async with asyncio.timeout(10):
                return await reader.read()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    store = MemoryStore()
    await store.save_user(
        UserRecord(
            user_id="u1",
            callback_key=KEY,
            credentials=StoredCredentials("at", "rt"),
            calendar_id="cal_sub",
            channel_id="chn_1",
            state=UserState.IDLE,
        )
    )
    clock = Clock()
    config = build(store)
    config.warnings = WarningThrottle(burst=BURST, interval=INTERVAL, clock=clock)
    server = WebhookServer(config)
    await server.start()
    try:
        yield Receiver(server, clock)
    finally:
        await server.stop()


def broken_chunking() -> bytes:
    """A head aiohttp accepts and a chunked body it cannot parse (its error record)."""
    return (
        f"POST /cronofy/notifications/{KEY} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Connection: close\r\n{SIGNATURE_HEADER}: c2ln\r\nTransfer-Encoding: chunked\r\n\r\n"
        "ZZZ\r\nxx\r\n"
    ).encode()


def unsigned() -> bytes:
    return (
        f"POST /cronofy/notifications/{KEY} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Connection: close\r\nContent-Length: 2\r\n\r\n{}"
    ).encode()


def lines(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= level and r.name.startswith(("aiohttp", "webhook_server"))
    ]


@pytest.mark.parametrize(
    ("request_bytes", "what"),
    [
        pytest.param(broken_chunking, "malformed request from the client", id="malformed"),
        pytest.param(unsigned, "rejected delivery for u1: missing signature", id="unsigned"),
    ],
)
async def test_a_flood_logs_a_few_lines_then_one_per_interval(
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
    request_bytes: Callable[[], bytes],
    what: str,
) -> None:
    caplog.set_level(logging.INFO)
    for _ in range(FLOOD):
        answer = await receiver.exchange(request_bytes())
        assert answer.split(b" ", 2)[1] in (b"400", b"401"), answer[:40]
    logged = lines(caplog)
    assert len(logged) == BURST, logged  # was one line per request: FLOOD lines
    assert all(what in line for line in logged), logged
    assert "counted, and summarized once per 60s" in logged[-1]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]

    # An interval later the flood goes on: one line says how many the others stood for.
    receiver.clock.now += INTERVAL
    await receiver.exchange(request_bytes())
    logged = lines(caplog)
    assert len(logged) == BURST + 1, logged
    assert what in logged[-1]
    assert logged[-1].endswith(
        f"(suppressed {FLOOD - BURST} similar warnings in the last {INTERVAL:.0f}s)"
    )


async def test_what_is_still_counted_is_said_when_the_receiver_stops(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for _ in range(BURST + 7):
        await receiver.exchange(unsigned())
    receiver.clock.now += 3
    await receiver.server.stop()
    assert lines(caplog)[-1] == (
        "suppressed 7 similar warnings (rejected delivery: missing signature) in the last 3s"
    )


async def test_a_client_that_hangs_up_mid_body_is_an_info_line_without_traceback(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    reader, writer = await asyncio.open_connection("127.0.0.1", receiver.server.port)
    writer.write(
        f"POST /cronofy/notifications/{KEY} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"{SIGNATURE_HEADER}: c2ln\r\nContent-Length: 100\r\n\r\n".encode()
        + b'{"notif'
    )
    await writer.drain()
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    await until(lambda: receiver.rejected.get("client_gone") == 1, what="the hang-up counted")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], lines(caplog)
    assert not [r for r in caplog.records if r.exc_info]
    said = lines(caplog)
    assert said == [
        "a client closed the connection before sending the whole body of a delivery for u1; "
        "nothing was recorded"
    ]
    del reader
