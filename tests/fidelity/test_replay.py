"""Replay each SDK fixture and docs example against the emulator over real HTTP; compare the
status code and the response's shape (field names, JSON types, nesting) with the fixture."""

from __future__ import annotations

import json
from string import Template
from typing import Any

import aiohttp
import pytest

from tests.fidelity.world import World

from .cases import CASES, Case
from .shapes import shape_mismatches, value_at


def fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return Template(value).safe_substitute(names)
    if isinstance(value, list):
        return [fill(v, names) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, names) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_replay(world: World, case: Case) -> None:
    await world.prepare(case.setup)
    names = world.placeholders()
    headers = {"Content-Type": "application/json"}
    if case.bearer == "access_token":
        headers["Authorization"] = f"Bearer {world.account.access_token}"
    elif case.bearer == "client_secret":
        headers["Authorization"] = f"Bearer {world.emulator.client_secret}"
    url = world.emulator.base_url + fill(case.path, names)
    data = json.dumps(fill(case.body, names)) if case.body is not None else None
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            case.method, url, params=fill(case.query, names), data=data, headers=headers
        ) as response,
    ):
        raw = await response.read()
        status = response.status
    assert status == case.status, f"{case.source}: {raw[:300]!r}"
    if case.response is None:
        assert raw.strip() == b"", case.source
        return
    body = json.loads(raw)
    problems = shape_mismatches(case.response, body, aliases=case.aliases)
    assert problems == [], f"{case.source}: {problems}"
    for dotted in case.same_values:
        assert value_at(body, dotted) == value_at(case.response, dotted), (case.source, dotted)


def test_every_case_cites_a_source() -> None:
    for case in CASES:
        assert case.source.startswith(
            ("cronofy/pycronofy ", "cronofy/cronofy-node ", "Cronofy docs")
        )
    assert len({c.id for c in CASES}) == len(CASES)


def test_shape_comparison_catches_what_it_should() -> None:
    fixture = {"pages": {"next_page": "https://x"}, "events": [{"start": "2014-09-06", "n": 1}]}
    assert shape_mismatches(fixture, {"pages": {"next_page": "u"}, "events": []}) == [
        "$.events: expected items, got an empty list"
    ]
    assert shape_mismatches(fixture, {"pages": {}, "events": [{"start": "x", "n": "1"}]}) == [
        "$.pages.next_page: missing",
        "$.events[0].start: expected a Cronofy time or date, got 'x'",
        "$.events[0].n: expected number, got string",
    ]
    ok = {"pages": {"next_page": "u"}, "events": [{"start": "2026-11-24T09:00:00Z", "n": 2}]}
    assert shape_mismatches(fixture, ok) == []
