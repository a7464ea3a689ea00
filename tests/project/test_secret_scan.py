"""The suite-wide log scan (tests/support/secret_scan.py) catches what it is meant to catch."""

from __future__ import annotations

import logging

import pytest

from tests.support.client import ACCESS_TOKEN
from tests.support.secret_scan import SecretScan


@pytest.mark.parametrize(
    "message",
    [
        f"refreshing with {ACCESS_TOKEN}",
        "GET /x Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345",
        "POST /cronofy/notifications/opfsF1ByNdF2qDXsM7dgyHg3-sum6YOM HTTP/1.1",
        'dump {"access_token": "k2j3h4k2j3h4k2j3h4"}',
        "secret CRN_abcdefghijklmnopqrstuvwxyz0123",
    ],
)
def test_the_scan_flags_secrets(message: str) -> None:
    scan = SecretScan()
    scan.emit(logging.LogRecord("x", logging.DEBUG, __file__, 1, message, None, None))
    assert scan.hits


@pytest.mark.parametrize(
    "message",
    [
        "POST /cronofy/notifications/opfs… HTTP/1.1",
        'dump {"access_token": "**REDACTED**"}',
        "Admin token abcd… in /tmp/x.admin-token",
    ],
)
def test_the_scan_lets_masked_values_pass(message: str) -> None:
    scan = SecretScan()
    scan.emit(logging.LogRecord("x", logging.DEBUG, __file__, 1, message, None, None))
    assert not scan.hits
