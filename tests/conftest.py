"""Shared test fixtures.

aioresponses 0.7.9 builds ``ClientResponse`` objects without the ``stream_writer`` argument that
aiohttp 3.14 made required (``ClientResponse.__init__() missing ... 'stream_writer'``). aiohttp
must not be pinned below 3.14 (a security release), so until aioresponses catches up this shim
supplies the one attribute aiohttp reads from that argument for a request already sent: its
``output_size``. Remove it once aioresponses passes ``stream_writer`` itself.
"""

from __future__ import annotations

import os
from typing import Any

import aioresponses.core
from aiohttp import ClientResponse
from yarl import URL


class _SentRequestWriter:
    """Stands in for the writer of a request that has already been sent."""

    output_size = 0


class _ShimClientResponse(ClientResponse):
    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _SentRequestWriter())
        super().__init__(method, url, **kwargs)


aioresponses.core.ClientResponse = _ShimClientResponse  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- secret scan
# Every log record the whole suite produces (any logger, any level) is scanned for the secrets
# the tests use and for secret-shaped values (bearer tokens, unmasked callback keys, emulator
# client secrets). A hit fails the test that produced it.

import logging  # noqa: E402
import re  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

from tests import helpers  # noqa: E402

_KNOWN = {
    *helpers.SECRETS,
    "CRN_current_secret_value_for_tests",
    "CRN_previous_secret_value_for_tests",
    "access-token-VERY-SECRET",
    "refresh-token-VERY-SECRET",
    "ADMIN-tok-5ecret-0c1d2e3f4a5b",
    "KEY-cb-5ecret-aaaaaaaaaaaa",
    "SOAK-client-5ecret-7e1f0a9b3c",
}
_SHAPES = re.compile(
    r"Bearer [A-Za-z0-9_\-]{20,}"  # an unmasked bearer token
    r"|/notifications/[A-Za-z0-9_\-]{12,}"  # an unmasked callback key
    r"|CRN_[A-Za-z0-9_\-]{20,}"  # an emulator client secret
    r"|\"(?:access|refresh)_token\"\s*:\s*\"[^\"*]{12,}\""  # a token in a JSON dump
)


class _SecretScan(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.hits: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:
            return
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        for secret in _KNOWN:
            if secret in text:
                self.hits.append(f"{record.name}: known secret {secret[:6]}… in {text[:200]!r}")
        match = _SHAPES.search(text)
        if match:
            self.hits.append(f"{record.name}: {match.group(0)[:24]}… in {text[:200]!r}")


_SCAN = _SecretScan()


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
    root = logging.getLogger()
    root.addHandler(_SCAN)
    level = root.level
    root.setLevel(logging.DEBUG)
    _SCAN.hits.clear()
    try:
        yield
    finally:
        root.setLevel(level)
        root.removeHandler(_SCAN)
    hits, _SCAN.hits[:] = list(_SCAN.hits), []
    assert not hits, "secrets in log records:\n" + "\n".join(hits[:5])


# --------------------------------------------------------------------------- dates
# The tests that touch dates are listed once, in tests/instants.py, and marked ``dates`` here.
from tests.instants import DATE_TOUCHING  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(DATE_TOUCHING):
            item.add_marker(pytest.mark.dates)


# --------------------------------------------------------------------------- PostgreSQL
# A throwaway cluster (initdb + pg_ctl in a temp dir, free port) started on first use by any
# test in the session and stopped at its end; each test that asks for ``pg_url`` gets a fresh
# database in it. Missing PostgreSQL or driver: skip with the install command (fail in CI).

from tests.postgres import Cluster, start_cluster  # noqa: E402


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
