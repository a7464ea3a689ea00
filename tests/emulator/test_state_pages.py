"""The pages resource: a read's answer kept under a cursor, page tokens only its own account
may follow, and the oldest cursors and tokens forgotten first."""

from __future__ import annotations

import pytest

from cronofy_avail.emulator.config import EmulatorConfig
from cronofy_avail.emulator.state import AccountRecord
from cronofy_avail.emulator.state import pages as pages_module
from cronofy_avail.emulator.state.pages import Pages
from cronofy_avail.emulator.state.shared import StateContext
from tests.support.emulator import FakeClock
from tests.support.emulator_state import api_error

BASE = "http://emu"
ADA = AccountRecord("acc_ada", "ada@example.com", "Ada", "UTC", ())
BOB = AccountRecord("acc_bob", "bob@example.com", "Bob", "UTC", ())


def _pages(clock: FakeClock, page_size: int = 2) -> Pages:
    return Pages(StateContext(EmulatorConfig(page_size=page_size), clock))


def _token(page: dict[str, object]) -> str:
    pages = page["pages"]
    assert isinstance(pages, dict)
    return str(pages["next_page"]).rsplit("/", 1)[1]


def test_pages_follow_the_page_size_and_chain(clock: FakeClock) -> None:
    pages = _pages(clock)
    items = [{"n": n} for n in range(5)]
    first = pages.first_page(ADA, "events", items, BASE)
    assert first["events"] == items[:2]
    assert first["pages"]["current"] == 1
    assert first["pages"]["total"] == 3
    assert first["pages"]["next_page"].startswith(f"{BASE}/v1/events/pages/")
    second = pages.next_page(ADA, "events", _token(first), BASE)
    assert (second["events"], second["pages"]["current"]) == (items[2:4], 2)
    third = pages.next_page(ADA, "events", _token(second), BASE)
    assert third["events"] == items[4:]
    assert "next_page" not in third["pages"]
    # A token may be followed again (a retried request).
    assert pages.next_page(ADA, "events", _token(first), BASE)["events"] == items[2:4]


def test_an_empty_answer_is_one_page(clock: FakeClock) -> None:
    page = _pages(clock).first_page(ADA, "available_periods", [], BASE)
    assert page == {"pages": {"current": 1, "total": 1}, "available_periods": []}


def test_the_page_size_is_a_setting_read_at_each_read(clock: FakeClock) -> None:
    pages = _pages(clock, page_size=50)
    items = [{"n": n} for n in range(3)]
    assert pages.first_page(ADA, "events", items, BASE)["pages"]["total"] == 1
    pages.page_size = 1
    assert pages.first_page(ADA, "events", items, BASE)["pages"]["total"] == 3


def test_tokens_are_the_accounts_and_the_kinds_own(clock: FakeClock) -> None:
    pages = _pages(clock)
    token = _token(pages.first_page(ADA, "events", [{}, {}, {}], BASE))
    assert api_error(lambda: pages.next_page(BOB, "events", token, BASE)).status == 404
    assert api_error(lambda: pages.next_page(ADA, "available_periods", token, BASE)).status == 404
    assert api_error(lambda: pages.next_page(ADA, "events", "nonsense", BASE)).status == 404
    pages.reset()
    assert api_error(lambda: pages.next_page(ADA, "events", token, BASE)).status == 404


def test_the_oldest_cursors_and_tokens_are_forgotten(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages_module, "MAX_CURSORS", 2)
    monkeypatch.setattr(pages_module, "MAX_PAGE_TOKENS", 3)
    pages = _pages(clock, page_size=1)
    tokens = [_token(pages.first_page(ADA, "events", [{}, {}], BASE)) for _ in range(3)]
    # The first answer's cursor is gone, so its token leads nowhere.
    assert api_error(lambda: pages.next_page(ADA, "events", tokens[0], BASE)).status == 404
    pages.next_page(ADA, "events", tokens[1], BASE)
    assert len(pages.cursors) == 3
    pages.first_page(ADA, "events", [{}, {}], BASE)
    assert len(pages.cursors) == 3  # the oldest token made way
    assert tokens[0] not in pages.cursors
