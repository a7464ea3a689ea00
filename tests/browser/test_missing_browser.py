"""Without the browser: a skip with the install command, except in CI, where it fails."""

from __future__ import annotations

import pytest

from tests.support.browser import INSTALL, missing


def test_a_missing_browser_fails_in_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        missing("/usr/bin/chromium is missing")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception) as skipped:
        missing("/usr/bin/chromium is missing")
    assert INSTALL in str(skipped.value)
