"""The storage rules of ``core.intents``, by tables: every store follows these (the stores' own
tests check they do, the SQL forms included)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cronofy_avail.core.intents import (
    Intent,
    claim_settles,
    lock_free,
    lock_held_by,
    merge_intent,
    scheduler_must_look,
    settle_intent,
)
from tests.support.intents import DUE_CASES, T0, Facts, H

# ---------------------------------------------------------------------------- merge_intent

MERGES = [
    # (before, changes_since, full, received_at, after)
    pytest.param(Intent(), T0, False, T0, Intent(T0, False, T0, 1, 0), id="first"),
    pytest.param(Intent(), None, True, T0, Intent(None, True, T0, 1, 1), id="first-full"),
    pytest.param(
        Intent(T0, False, T0, 3, 0),
        T0 - H,
        False,
        T0 + H,
        Intent(T0 - H, False, T0, 4, 0),
        id="earliest-point-first-arrival-kept",
    ),
    pytest.param(
        Intent(T0 - H, False, T0 + H, 4, 0),
        T0,
        False,
        T0 + 2 * H,
        Intent(T0 - H, False, T0 + H, 5, 0),
        id="a-later-point-and-a-later-arrival-change-nothing-but-the-generation",
    ),
    pytest.param(
        Intent(T0 - H, False, T0 + H, 4, 0),
        T0,
        False,
        T0,
        Intent(T0 - H, False, T0, 5, 0),
        id="an-older-arrival-from-another-receiver-is-the-oldest",
    ),
    pytest.param(
        Intent(T0, True, T0, 4, 2),
        None,
        False,
        T0,
        Intent(T0, True, T0, 5, 2),
        id="an-incremental-keeps-the-full-requests-generation",
    ),
    pytest.param(
        Intent(T0, True, T0, 4, 2),
        None,
        True,
        T0,
        Intent(T0, True, T0, 5, 5),
        id="a-new-full-request-takes-the-new-generation",
    ),
]


@pytest.mark.parametrize(("before", "since", "full", "received", "after"), MERGES)
def test_merge_intent(
    before: Intent, since: datetime | None, full: bool, received: datetime, after: Intent
) -> None:
    assert merge_intent(before, changes_since=since, full=full, received_at=received) == after


# --------------------------------------------------------------------------- settle_intent

SETTLES = [
    # (stored, seen_gen, watermark, full, left)
    pytest.param(
        Intent(T0, False, T0, 3, 0),
        3,
        T0,
        False,
        Intent(None, False, None, 3, 0),
        id="covered-cleared",
    ),
    pytest.param(
        Intent(T0 - H, False, T0, 4, 0),
        3,
        T0,
        False,
        Intent(T0, False, T0, 4, 0),
        id="newer-intent-stays-read-from-the-new-watermark",
    ),
    pytest.param(
        Intent(T0 - H, False, T0 - H, 4, 0),
        3,
        T0,
        False,
        Intent(T0, False, T0, 4, 0),
        id="newer-intent-stays-its-oldest-arrival-no-earlier-than-the-watermark",
    ),
    pytest.param(
        Intent(T0 - H, False, T0, 4, 0),
        3,
        None,
        False,
        Intent(T0 - H, False, T0, 4, 0),
        id="newer-intent-stays-no-watermark",
    ),
    pytest.param(
        Intent(T0 + H, False, T0, 4, 0),
        3,
        T0,
        False,
        Intent(T0 + H, False, T0, 4, 0),
        id="a-later-point-is-kept",
    ),
    pytest.param(
        Intent(T0, True, T0, 3, 3),
        3,
        T0,
        False,
        Intent(None, True, None, 3, 3),
        id="only-a-full-sync-settles-a-full-request",
    ),
    pytest.param(
        Intent(T0, True, T0, 3, 3),
        3,
        T0,
        True,
        Intent(None, False, None, 3, 3),
        id="full-sync-settles-all",
    ),
    pytest.param(
        Intent(T0, True, T0, 5, 3),
        4,
        T0,
        True,
        Intent(T0, False, T0, 5, 3),
        id="full-request-before-the-read-settled-later-intents-stay",
    ),
    pytest.param(
        Intent(T0, True, T0, 5, 5),
        4,
        T0,
        True,
        Intent(T0, True, T0, 5, 5),
        id="full-request-after-the-read-stays",
    ),
    pytest.param(Intent(), 0, T0, True, Intent(), id="nothing-pending"),
]


@pytest.mark.parametrize(("stored", "seen", "watermark", "full", "left"), SETTLES)
def test_settle_intent(
    stored: Intent, seen: int, watermark: datetime | None, full: bool, left: Intent
) -> None:
    assert settle_intent(stored, seen_gen=seen, watermark=watermark, full=full) == left


def test_settling_never_compares_clocks() -> None:
    """A notification stamped long before the sync but recorded after its read stays."""
    stored = Intent(T0 - 10 * H, False, T0 - 10 * H, 8, 0)
    assert settle_intent(stored, seen_gen=7, watermark=T0, full=True).pending


# --------------------------------------------------------------------------- claim_settles

STARTED = T0
BEFORE = T0 - timedelta(minutes=10)
CLAIMS = [
    # (claimed_at, before, settles)
    pytest.param(BEFORE - H, BEFORE, True, id="claimed-long-before"),
    pytest.param(BEFORE, BEFORE, True, id="claimed-at-the-bound"),
    pytest.param(BEFORE + timedelta(seconds=1), BEFORE, False, id="write-may-still-land"),
    pytest.param(STARTED - timedelta(seconds=1), BEFORE, False, id="just-before-this-sync"),
    pytest.param(STARTED, BEFORE, True, id="claimed-by-this-sync"),
    pytest.param(STARTED + H, BEFORE, True, id="claimed-by-this-sync-later"),
    pytest.param(STARTED - timedelta(seconds=1), None, True, id="unconditional"),
]


@pytest.mark.parametrize(("claimed_at", "before", "settles"), CLAIMS)
def test_claim_settles(claimed_at: datetime, before: datetime | None, settles: bool) -> None:
    assert claim_settles(claimed_at, started_at=STARTED, before=before) is settles


# ------------------------------------------------------------------- scheduler_must_look


@pytest.mark.parametrize(("facts", "looked_at"), DUE_CASES)
def test_scheduler_must_look(facts: Facts, looked_at: bool) -> None:
    assert scheduler_must_look(facts, T0) is looked_at


# ---------------------------------------------------------------------------- the lock

NOW = 1_000.0
LOCKS = [
    # (holder, owner, dead holders, held by owner, free for owner)
    pytest.param(None, "a", set(), False, True, id="nobody"),
    pytest.param(("a", NOW + 5), "a", set(), True, True, id="mine"),
    pytest.param(("a", NOW), "a", set(), False, True, id="mine-expired"),
    pytest.param(("b", NOW + 5), "a", set(), False, False, id="theirs"),
    pytest.param(("b", NOW), "a", set(), False, True, id="theirs-expired"),
    pytest.param(("b", NOW + 5), "a", {"b"}, False, True, id="theirs-dead"),
]


@pytest.mark.parametrize(("holder", "owner", "dead", "held", "free"), LOCKS)
def test_lock(
    holder: tuple[str, float] | None, owner: str, dead: set[str], held: bool, free: bool
) -> None:
    assert lock_held_by(holder, owner, NOW) is held
    assert lock_free(holder, owner, NOW, is_dead=dead.__contains__) is free
