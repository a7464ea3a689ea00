"""Requests a browser sends on someone else's behalf: cross-site requests and DNS rebinding.

Every server the toolkit ships (the receiver's admin views, the emulator, the workshop) may be
reachable from a browser with other tabs open. Two rules keep a web page from acting on it:

* **Cross-site requests** are refused where they would change something: a browser marks
  them with ``Sec-Fetch-Site`` (anything but ``same-origin`` or ``none``, the user typing the
  address) and with an ``Origin`` whose host is not the one the request was sent to.
* **DNS rebinding** (a page at ``evil.example`` whose name now resolves to 127.0.0.1) shows up
  as a ``Host`` header naming a host the server does not answer for. An IP literal and
  ``localhost`` cannot be rebound; any other name must be listed.

Pure: headers and names in, a reason out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain"})


def host_name(host: str) -> str:
    """``Host`` without its port, lower case (``[::1]:8080`` → ``::1``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def is_cross_site(headers: Mapping[str, str], host: str) -> bool:
    """Whether a browser sent this request from another site's page (``host`` is the
    request's ``Host`` header)."""
    fetch_site = headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return True
    origin = headers.get("Origin")
    return origin is not None and origin.split("://", 1)[-1].lower() != host.strip().lower()


def is_ip_or_localhost(name: str) -> bool:
    if name in _LOCAL_NAMES:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def unexpected_host(host: str, allowed: Collection[str]) -> bool:
    """Whether ``host`` (a ``Host`` header) names neither an IP address, ``localhost``, nor
    one of ``allowed`` (names the server is published under)."""
    name = host_name(host)
    return not is_ip_or_localhost(name) and name not in {a.lower() for a in allowed}


def is_direct_local(
    remote: str | None, headers: Mapping[str, str], local: str | None = None
) -> bool:
    """Whether a request came from this machine itself, not forwarded by a proxy (ngrok, a
    reverse proxy on this machine): the only requests a server may trust without a token.
    From a loopback address, or from ``local``, the address it was received on: a server
    bound to one LAN address sees its own machine's browser come from that address (a TCP
    connection whose two ends are one address never left the machine)."""
    if "X-Forwarded-For" in headers or "Forwarded" in headers or not remote:
        return False
    if local is not None and remote == local:
        return True
    try:
        return ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False
