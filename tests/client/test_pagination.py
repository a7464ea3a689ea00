"""Pagination: pages followed in order, never off the API host, never in a loop, bounded."""

from __future__ import annotations

from typing import Any

import pytest
from aioresponses import aioresponses
from yarl import URL

from cronofy_avail.client.api import CronofyClient
from cronofy_avail.core.errors import PaginationError
from tests.support.client import ACCESS_TOKEN, API, bearer, event, make_client, sent

EMULATOR = "http://127.0.0.1:8765"
FIRST = f"{API}/v1/events?tzid=UTC"


@pytest.fixture
def m() -> Any:
    with aioresponses() as mocked:
        yield mocked


def page(current: int, uids: list[str], next_page: str | None, total: int = 3) -> Any:
    pages: dict[str, Any] = {"current": current, "total": total}
    if next_page is not None:
        pages["next_page"] = next_page
    return {"pages": pages, "events": [event(uid) for uid in uids]}


def requested(m: aioresponses) -> list[str]:
    return [str(url) for _, url, _ in sent(m)]


def norm(*urls: str) -> list[str]:
    """URLs as aioresponses records them (query sorted)."""
    return [str(URL(u).with_query(sorted(URL(u).query.items()))) for u in urls]


async def collect(client: CronofyClient) -> list[list[str]]:
    return [[e.event_uid for e in p.events] async for p in client.iter_event_pages(tzid="UTC")]


async def test_three_pages_followed_in_order(m: aioresponses) -> None:
    p2 = f"{API}/v1/events/pages/2?token=abc&tzid=UTC"
    p3 = f"{API}/v1/events/pages/3?token=def&tzid=UTC"
    m.get(FIRST, payload=page(1, ["a", "b"], p2))
    m.get(p2, payload=page(2, ["c"], p3))
    m.get(p3, payload=page(3, ["d", "e"], None))
    async with make_client() as client:
        assert await collect(client) == [["a", "b"], ["c"], ["d", "e"]]
        assert client.stats.by_endpoint["GET /v1/events/pages/2"] == 1
    assert requested(m) == norm(FIRST, p2, p3)
    assert all(bearer(kw) == f"Bearer {ACCESS_TOKEN}" for _, _, kw in sent(m))
    # next_page is fetched as given: no query parameters added on top.
    assert all(kw["params"] is None for _, url, kw in sent(m) if url.path != "/v1/events")


async def test_read_events_flattens_pages(m: aioresponses) -> None:
    p2 = f"{API}/v1/events?tzid=UTC&page=2"
    m.get(FIRST, payload=page(1, ["a"], p2, total=2))
    m.get(p2, payload=page(2, ["b"], None, total=2))
    async with make_client() as client:
        events = await client.read_events(tzid="UTC")
    assert [e.event_uid for e in events] == ["a", "b"]


@pytest.mark.parametrize(
    "foreign",
    [
        "https://evil.example/v1/events?page=2",
        "https://api-uk.cronofy.com/v1/events?page=2",
        "https://api.cronofy.com.evil.example/v1/events?page=2",
        "http://api.cronofy.com/v1/events?page=2",
        "https://api.cronofy.com:8443/v1/events?page=2",
        "/v1/events?page=2",
    ],
)
async def test_foreign_next_page_refused_and_never_requested(m: aioresponses, foreign: str) -> None:
    m.get(FIRST, payload=page(1, ["a"], foreign))
    if foreign.startswith("http"):
        m.get(foreign, payload=page(2, ["stolen"], None))
    seen: list[list[str]] = []

    async def consume(client: CronofyClient) -> None:
        async for p in client.iter_event_pages(tzid="UTC"):
            seen.append([e.event_uid for e in p.events])

    async with make_client() as client:
        with pytest.raises(PaginationError, match="off the API host"):
            await consume(client)
    assert seen == [["a"]]
    assert requested(m) == norm(FIRST)
    for _, url, _kw in sent(m):
        assert url.host == "api.cronofy.com"
        assert url.port == 443


async def test_emulator_port_is_the_origin(m: aioresponses) -> None:
    first = f"{EMULATOR}/v1/events?tzid=UTC"
    same = f"{EMULATOR}/v1/events?tzid=UTC&page=2"
    other_port = "http://127.0.0.1:8766/v1/events?tzid=UTC&page=3"
    m.get(first, payload=page(1, ["a"], same))
    m.get(same, payload=page(2, ["b"], other_port))
    m.get(other_port, payload=page(3, ["c"], None))
    async with make_client(api_base_url=EMULATOR) as client:
        with pytest.raises(PaginationError):
            await client.read_events(tzid="UTC")
    assert requested(m) == norm(first, same)


async def test_next_page_pointing_to_itself(m: aioresponses) -> None:
    p2 = f"{API}/v1/events?tzid=UTC&page=2"
    m.get(FIRST, payload=page(1, ["a"], p2))
    m.get(p2, payload=page(2, ["b"], p2), repeat=True)
    async with make_client() as client:
        with pytest.raises(PaginationError, match="repeats"):
            await client.read_events(tzid="UTC")
    assert requested(m) == norm(FIRST, p2)


async def test_next_page_back_to_an_earlier_page(m: aioresponses) -> None:
    p2 = f"{API}/v1/events?tzid=UTC&page=2"
    p3 = f"{API}/v1/events?tzid=UTC&page=3"
    m.get(FIRST, payload=page(1, ["a"], p2))
    m.get(p2, payload=page(2, ["b"], p3), repeat=True)
    m.get(p3, payload=page(3, ["c"], p2))
    async with make_client() as client:
        with pytest.raises(PaginationError, match="repeats"):
            await client.read_events(tzid="UTC")
    assert requested(m) == norm(FIRST, p2, p3)


@pytest.mark.parametrize(
    "first_again",
    [
        FIRST,
        # Cronofy writes query arrays with literal brackets; the first request encoded them.
        f"{API}/v1/events?tzid=UTC&calendar_ids[]=cal_sub",
    ],
)
async def test_next_page_back_to_the_first_page(m: aioresponses, first_again: str) -> None:
    p2 = f"{API}/v1/events?tzid=UTC&page=2"
    first = first_again
    m.get(first, payload=page(1, ["a"], p2), repeat=True)
    m.get(p2, payload=page(2, ["b"], first_again))
    calendar_ids = ["cal_sub"] if "calendar_ids" in first_again else None
    async with make_client() as client:
        with pytest.raises(PaginationError):
            await client.read_events(tzid="UTC", calendar_ids=calendar_ids)
    assert len(sent(m)) == 2


async def test_page_number_must_increase(m: aioresponses) -> None:
    p2 = f"{API}/v1/events?tzid=UTC&page=2"
    p3 = f"{API}/v1/events?tzid=UTC&page=3"
    m.get(FIRST, payload=page(1, ["a"], p2))
    m.get(p2, payload=page(1, ["b"], p3))
    m.get(p3, payload=page(3, ["c"], None))
    async with make_client() as client:
        with pytest.raises(PaginationError, match="came after page 1"):
            await client.read_events(tzid="UTC")
    assert requested(m) == norm(FIRST, p2)


async def test_max_pages_bound(m: aioresponses) -> None:
    for n in range(1, 10):
        m.get(
            f"{API}/v1/events?tzid=UTC&page={n}" if n > 1 else FIRST,
            payload=page(n, [f"e{n}"], f"{API}/v1/events?tzid=UTC&page={n + 1}", total=99),
        )
    async with make_client(max_pages=3) as client:
        with pytest.raises(PaginationError, match="more than 3 pages"):
            await client.read_events(tzid="UTC")
    assert len(sent(m)) == 3


async def test_max_pages_exactly_reached_is_fine(m: aioresponses) -> None:
    p2 = f"{API}/v1/events?tzid=UTC&page=2"
    p3 = f"{API}/v1/events?tzid=UTC&page=3"
    m.get(FIRST, payload=page(1, ["a"], p2))
    m.get(p2, payload=page(2, ["b"], p3))
    m.get(p3, payload=page(3, ["c"], None))
    async with make_client(max_pages=3) as client:
        assert len(await client.read_events(tzid="UTC")) == 3


async def test_single_page_without_pages_object(m: aioresponses) -> None:
    m.get(FIRST, payload={"events": [event("only")]})
    async with make_client() as client:
        assert [e.event_uid for e in await client.read_events(tzid="UTC")] == ["only"]
    assert requested(m) == norm(FIRST)


async def test_available_periods_pages_guarded_too(m: aioresponses) -> None:
    foreign = "https://evil.example/v1/available_periods?page=2"
    m.get(
        f"{API}/v1/available_periods",
        payload={
            "pages": {"current": 1, "total": 2, "next_page": foreign},
            "available_periods": [],
        },
    )
    m.get(foreign, payload={"available_periods": []})
    async with make_client() as client:
        with pytest.raises(PaginationError):
            await client.list_available_periods()
    assert [URL(u).host for u in requested(m)] == ["api.cronofy.com"]
