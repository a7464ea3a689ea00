"""The aiohttp client for Cronofy's API and the application-wide rate limiter.

* :mod:`.api`: :class:`CronofyClient`, its endpoints (the public face);
* :mod:`.transport`: the request loop (rate limiter, auth header, send, perform the decision);
* :mod:`.decide`: the pure decision about one answer (done, renew, retry after N, raise which);
* :mod:`.auth`: tokens and client credentials (renewal, ``on_tokens``, no secret in a repr);
* :mod:`.wire`: query encoding, JSON bodies, answers validated into models;
* :mod:`.ratelimit`: the application-wide rate limiter; :mod:`.stats`: the client's counts.

Imports only :mod:`cronofy_avail.core` of ours (the import contract enforces it).
"""

from cronofy_avail.client.api import ClientStats, CronofyClient, OAuthTokens
from cronofy_avail.client.ratelimit import RateLimiter

__all__ = ["ClientStats", "CronofyClient", "OAuthTokens", "RateLimiter"]
