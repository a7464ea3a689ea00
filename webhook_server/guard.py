"""The admin views' guard, shared by every admin view of a process (the receiver's ``/status``,
``/metrics`` on ``serve`` and on a ``worker``): one rule, so no view is looser than another.

A request is refused when it is cross-site (a browser's ``Origin`` of another site,
``Sec-Fetch-Site`` other than same-origin/none), when ``allowed_hosts`` is set and its ``Host``
is not in it (DNS rebinding), and when it is not an admin's: with ``admin_token`` set it needs
``Authorization: Bearer <admin_token>``; without it only direct loopback requests pass (not
forwarded ones, as through ngrok).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from cronofy_avail.core.browser import host_name, is_cross_site, is_direct_local

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def admin_refusal(
    request: web.Request, *, admin_token: str | None, allowed_hosts: Sequence[str] | None
) -> str | None:
    """Why an admin request is refused, or ``None``."""
    if is_cross_site(request.headers, request.host):
        return "forbidden: cross-site request"
    if allowed_hosts is not None and host_name(request.host) not in {
        h.lower() for h in allowed_hosts
    }:
        return "forbidden: unexpected Host"
    if not is_admin(request, admin_token):
        return "forbidden"
    return None


def is_admin(request: web.Request, admin_token: str | None) -> bool:
    if admin_token:
        given = request.headers.get("Authorization", "")
        # surrogateescape: a header's undecodable bytes are a wrong token, not a 500.
        return hmac.compare_digest(
            given.encode("utf-8", "surrogateescape"), f"Bearer {admin_token}".encode()
        )
    return is_direct_local(request.remote, request.headers)


def admin_only(
    handler: Handler, *, admin_token: str | None, allowed_hosts: Sequence[str] | None
) -> Handler:
    """``handler`` behind the guard: a refused request is answered 403 with the reason."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        refusal = admin_refusal(request, admin_token=admin_token, allowed_hosts=allowed_hosts)
        if refusal is not None:
            return web.json_response({"error": refusal}, status=403)
        return await handler(request)

    return guarded
