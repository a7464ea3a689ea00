"""Fixtures for the whole suite: no developer configuration, no secret in any log record, the
``dates`` marker, and a throwaway PostgreSQL. What they use lives in ``tests/support/``."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

import tests.support.aiohttp_shim  # noqa: F401 - installs the shim before any test runs
from tests.support.instants import DATE_TOUCHING
from tests.support.postgres import Cluster, start_cluster
from tests.support.secret_scan import SCAN


@pytest.fixture(autouse=True)
def _settings_only_from_the_test(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test reads the developer's configuration: every ``CRONOFY_*`` variable of the shell
    is unset, and the working directory holds no ``.env`` (the wizard and the commands read
    ``./.env``). A test that needs either sets it itself."""
    for name in list(os.environ):
        if name.startswith("CRONOFY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(autouse=True)
def _no_secret_in_any_log_record() -> Iterator[None]:
    """Every log record of the test is scanned (tests/support/secret_scan.py); a hit fails it."""
    root = logging.getLogger()
    root.addHandler(SCAN)
    level = root.level
    root.setLevel(logging.DEBUG)
    SCAN.hits.clear()
    try:
        yield
    finally:
        root.setLevel(level)
        root.removeHandler(SCAN)
    hits, SCAN.hits[:] = list(SCAN.hits), []
    assert not hits, "secrets in log records:\n" + "\n".join(hits[:5])


# --------------------------------------------------------------------------- dates
# The tests that touch dates are listed once, in tests/support/instants.py, and marked
# ``dates`` here.


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(DATE_TOUCHING):
            item.add_marker(pytest.mark.dates)


# --------------------------------------------------------------------------- PostgreSQL
# A throwaway cluster (initdb + pg_ctl in a temp dir, free port) started on first use by any
# test in the session and stopped at its end; each test that asks for ``pg_url`` gets a fresh
# database in it. Missing PostgreSQL or driver: skip with the install command (fail in CI).


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """The URL of a fresh, empty database on the throwaway cluster."""
    return pg_cluster.create_database()


@pytest.fixture(scope="session")
def pg_restartable() -> Iterator[Cluster]:
    """A second throwaway cluster, for the tests that restart or stop its server (the others
    keep theirs meanwhile). A test that stops it starts it again before it ends. Durable: an
    acknowledged commit survives ``-m immediate``, as on a production server."""
    cluster = start_cluster(durable=True)
    try:
        yield cluster
    finally:
        cluster.stop()
