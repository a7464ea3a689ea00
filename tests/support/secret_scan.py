"""The suite-wide log scan: every log record the whole suite produces (any logger, any level)
is scanned for the secrets the tests use and for secret-shaped values (bearer tokens, unmasked
callback keys, emulator client secrets). ``tests/conftest.py`` attaches :data:`SCAN` to the
root logger around every test; a hit fails the test that produced it."""

from __future__ import annotations

import logging
import re

from tests.support import client

KNOWN = {
    *client.SECRETS,
    "CRN_current_secret_value_for_tests",
    "CRN_previous_secret_value_for_tests",
    "access-token-VERY-SECRET",
    "refresh-token-VERY-SECRET",
    "ADMIN-tok-5ecret-0c1d2e3f4a5b",
    "KEY-cb-5ecret-aaaaaaaaaaaa",
    "SOAK-client-5ecret-7e1f0a9b3c",
}
SHAPES = re.compile(
    r"Bearer [A-Za-z0-9_\-]{20,}"  # an unmasked bearer token
    r"|/notifications/[A-Za-z0-9_\-]{12,}"  # an unmasked callback key
    r"|CRN_[A-Za-z0-9_\-]{20,}"  # an emulator client secret
    r"|\"(?:access|refresh)_token\"\s*:\s*\"[^\"*]{12,}\""  # a token in a JSON dump
)


class SecretScan(logging.Handler):
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
        for secret in KNOWN:
            if secret in text:
                self.hits.append(f"{record.name}: known secret {secret[:6]}… in {text[:200]!r}")
        match = SHAPES.search(text)
        if match:
            self.hits.append(f"{record.name}: {match.group(0)[:24]}… in {text[:200]!r}")


SCAN = SecretScan()
