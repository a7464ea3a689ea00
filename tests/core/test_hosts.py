"""Data centers and base URLs."""

from __future__ import annotations

import pytest

from cronofy_avail.core.hosts import DATA_CENTERS, Endpoints, api_base_url, app_base_url
from tests.support.client import make_client

EXPECTED_API = {
    "us": "https://api.cronofy.com",
    "uk": "https://api-uk.cronofy.com",
    "de": "https://api-de.cronofy.com",
    "au": "https://api-au.cronofy.com",
    "ca": "https://api-ca.cronofy.com",
    "sg": "https://api-sg.cronofy.com",
}
EXPECTED_APP = {
    "us": "https://app.cronofy.com",
    "uk": "https://app-uk.cronofy.com",
    "de": "https://app-de.cronofy.com",
    "au": "https://app-au.cronofy.com",
    "ca": "https://app-ca.cronofy.com",
    "sg": "https://app-sg.cronofy.com",
}


def test_all_six_data_centers_known() -> None:
    assert set(DATA_CENTERS) == set(EXPECTED_API)


@pytest.mark.parametrize(("dc", "url"), EXPECTED_API.items())
def test_api_hosts(dc: str, url: str) -> None:
    assert api_base_url(dc) == url
    assert api_base_url(dc.upper()) == url
    assert Endpoints.for_data_center(dc).api == url


@pytest.mark.parametrize(("dc", "url"), EXPECTED_APP.items())
def test_app_hosts(dc: str, url: str) -> None:
    assert app_base_url(dc) == url
    assert Endpoints.for_data_center(dc).app == url


def test_default_is_us() -> None:
    assert api_base_url() == "https://api.cronofy.com"
    assert app_base_url() == "https://app.cronofy.com"


@pytest.mark.parametrize("dc", ["eu", "", "us2", "api", "gb"])
def test_unknown_data_center(dc: str) -> None:
    with pytest.raises(ValueError, match="unknown data center"):
        api_base_url(dc)
    with pytest.raises(ValueError, match="unknown data center"):
        app_base_url(dc)
    with pytest.raises(ValueError, match="unknown data center"):
        Endpoints.for_data_center(dc)


def test_unknown_data_center_in_client() -> None:
    with pytest.raises(ValueError, match="unknown data center"):
        make_client(data_center="mars")


def test_api_override_used_for_both_hosts() -> None:
    endpoints = Endpoints.for_data_center("uk", api_base_url_override="http://127.0.0.1:8123/")
    assert endpoints.api == "http://127.0.0.1:8123"
    assert endpoints.app == "http://127.0.0.1:8123"


def test_app_override_separately() -> None:
    endpoints = Endpoints.for_data_center(
        "us",
        api_base_url_override="http://127.0.0.1:8123",
        app_base_url_override="http://127.0.0.1:9000/",
    )
    assert endpoints.api == "http://127.0.0.1:8123"
    assert endpoints.app == "http://127.0.0.1:9000"
    only_app = Endpoints.for_data_center("de", app_base_url_override="http://127.0.0.1:9000")
    assert only_app.api == "https://api-de.cronofy.com"
    assert only_app.app == "http://127.0.0.1:9000"


@pytest.mark.parametrize("bad", ["127.0.0.1:8123", "ftp://127.0.0.1", "/relative", "http://"])
def test_override_must_be_absolute_http(bad: str) -> None:
    with pytest.raises(ValueError, match="absolute"):
        Endpoints.for_data_center(api_base_url_override=bad)


def test_client_uses_data_center_and_override() -> None:
    assert make_client(data_center="sg").url("/v1/events") == (
        "https://api-sg.cronofy.com/v1/events"
    )
    client = make_client(data_center="uk", api_base_url="http://127.0.0.1:8765")
    assert client.url("/v1/events") == "http://127.0.0.1:8765/v1/events"
    assert client.endpoints.app == "http://127.0.0.1:8765"


@pytest.mark.parametrize(
    ("url", "same"),
    [
        ("https://api.cronofy.com/v1/events?page=2", True),
        ("https://API.cronofy.com/v1/events", True),
        ("https://api.cronofy.com:443/v1/events", True),
        ("http://api.cronofy.com/v1/events", False),
        ("https://api.cronofy.com:8443/v1/events", False),
        ("https://api-uk.cronofy.com/v1/events", False),
        ("https://api.cronofy.com.evil.example/v1/events", False),
        ("https://evil.example/v1/events", False),
        ("/v1/events", False),
    ],
)
def test_same_origin(url: str, same: bool) -> None:
    assert Endpoints.for_data_center("us").same_origin(url) is same


def test_same_origin_with_port_override() -> None:
    endpoints = Endpoints.for_data_center(api_base_url_override="http://127.0.0.1:8123")
    assert endpoints.same_origin("http://127.0.0.1:8123/v1/events?page=2")
    assert not endpoints.same_origin("http://127.0.0.1:8124/v1/events")
    assert not endpoints.same_origin("http://127.0.0.1/v1/events")
