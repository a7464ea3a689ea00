"""Where to send requests: Cronofy's data centers, or an explicit base URL (the emulator).

Pure: no I/O. An account lives in one data center and every call for it goes there.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

DATA_CENTERS: tuple[str, ...] = ("us", "uk", "de", "au", "ca", "sg")


def _host(kind: str, data_center: str) -> str:
    dc = data_center.lower()
    if dc not in DATA_CENTERS:
        raise ValueError(f"unknown data center {data_center!r}; expected one of {DATA_CENTERS}")
    if dc == "us":
        return f"https://{kind}.cronofy.com"
    return f"https://{kind}-{dc}.cronofy.com"


def api_base_url(data_center: str = "us") -> str:
    """``us`` → ``https://api.cronofy.com``; others → ``https://api-{dc}.cronofy.com``."""
    return _host("api", data_center)


def app_base_url(data_center: str = "us") -> str:
    """The OAuth authorize page host: ``https://app.cronofy.com`` or ``https://app-{dc}…``."""
    return _host("app", data_center)


def _normalise(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base URL {url!r} must be an absolute http(s) URL")
    return url.rstrip("/")


@dataclass(frozen=True, slots=True)
class Endpoints:
    """The API and app base URLs a client uses. Build with :meth:`for_data_center`."""

    api: str
    app: str

    @classmethod
    def for_data_center(
        cls,
        data_center: str = "us",
        *,
        api_base_url_override: str | None = None,
        app_base_url_override: str | None = None,
    ) -> Endpoints:
        api = (
            _normalise(api_base_url_override)
            if api_base_url_override
            else api_base_url(data_center)
        )
        if app_base_url_override:
            app = _normalise(app_base_url_override)
        elif api_base_url_override:
            # An overridden API (the emulator) serves its own authorize page.
            app = api
        else:
            app = app_base_url(data_center)
        return cls(api=api, app=app)

    def same_origin(self, url: str) -> bool:
        """Whether ``url`` is on the API host (scheme, host and port all equal)."""
        mine, other = urlsplit(self.api), urlsplit(url)
        return (
            mine.scheme == other.scheme
            and (mine.hostname or "").lower() == (other.hostname or "").lower()
            and _port(mine.scheme, mine.port) == _port(other.scheme, other.port)
        )


def _port(scheme: str, port: int | None) -> int | None:
    if port is not None:
        return port
    return {"http": 80, "https": 443}.get(scheme)
