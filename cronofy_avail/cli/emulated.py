"""What a real-Cronofy command may ask of an emulator standing in for Cronofy, without
importing it: one question over HTTP to the emulator's control API (``/_emulator``).

``setup`` asks it to replace a stored user whose account a restarted emulator forgot (an
emulator forgets everything when it stops); Cronofy itself has no control API, so the answer
there is always "no".
"""

from __future__ import annotations

import aiohttp

_TIMEOUT = aiohttp.ClientTimeout(total=5)


async def emulator_forgot(
    session: aiohttp.ClientSession, api_base_url: str | None, account_id: str
) -> bool:
    """Whether ``api_base_url`` is an emulator that does not know ``account_id`` (it was
    restarted). ``False`` for Cronofy itself, or an emulator without its control API."""
    if not api_base_url:
        return False
    url = f"{api_base_url.rstrip('/')}/_emulator/accounts"
    try:
        async with session.get(url, timeout=_TIMEOUT, allow_redirects=False) as response:
            if response.status != 200:
                return False
            data = await response.json()
        accounts = data["accounts"]
        return all(a.get("account_id") != account_id for a in accounts)
    except (aiohttp.ClientError, TimeoutError, KeyError, TypeError, ValueError, AttributeError):
        return False
