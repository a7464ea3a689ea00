"""The browser rules every server shares (core/browser.py): cross-site, DNS rebinding, and
which requests come from this machine."""

from __future__ import annotations

import pytest

from cronofy_avail.core.browser import is_cross_site, is_direct_local, unexpected_host


@pytest.mark.parametrize(
    ("headers", "cross"),
    [
        ({}, False),  # curl, a script, the kernel
        ({"Sec-Fetch-Site": "same-origin"}, False),
        ({"Sec-Fetch-Site": "none"}, False),  # typed in the address bar
        ({"Sec-Fetch-Site": "same-site"}, True),
        ({"Sec-Fetch-Site": "cross-site"}, True),
        ({"Origin": "http://127.0.0.1:8181"}, False),
        ({"Origin": "HTTP://127.0.0.1:8181"}, False),
        ({"Origin": "http://evil.example"}, True),
        ({"Origin": "null"}, True),
    ],
)
def test_cross_site(headers: dict[str, str], cross: bool) -> None:
    assert is_cross_site(headers, "127.0.0.1:8181") is cross


@pytest.mark.parametrize(
    ("host", "unexpected"),
    [
        ("127.0.0.1:8181", False),
        ("[::1]:8181", False),
        ("192.168.1.20:8181", False),
        ("localhost:8181", False),
        ("LOCALHOST", False),
        ("room.example:8181", False),  # listed
        ("evil.example:8181", True),
        ("127.0.0.1.", True),  # not an IP literal: a name that could be rebound
        ("foo.localhost", True),
    ],
)
def test_unexpected_host(host: str, unexpected: bool) -> None:
    assert unexpected_host(host, ["room.example"]) is unexpected


@pytest.mark.parametrize(
    ("remote", "headers", "local", "direct"),
    [
        ("127.0.0.1", {}, None, True),
        ("::1", {}, None, True),
        ("127.0.0.1", {"X-Forwarded-For": "192.0.2.9"}, None, False),  # a proxy here
        ("127.0.0.1", {"Forwarded": "for=192.0.2.9"}, None, False),
        ("192.168.1.20", {}, "192.168.1.20", True),  # bound to one LAN address
        ("192.168.1.21", {}, "192.168.1.20", False),  # another laptop
        ("192.168.1.21", {}, None, False),
        (None, {}, None, False),
        ("not-an-address", {}, None, False),
    ],
)
def test_direct_local(
    remote: str | None, headers: dict[str, str], local: str | None, direct: bool
) -> None:
    assert is_direct_local(remote, headers, local) is direct
