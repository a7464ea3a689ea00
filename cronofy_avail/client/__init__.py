"""The aiohttp client for Cronofy's API and the application-wide rate limiter.

Imports only :mod:`cronofy_avail.core` of ours (the import contract enforces it).
"""

from cronofy_avail.client.api import ClientStats, CronofyClient, OAuthTokens
from cronofy_avail.client.ratelimit import RateLimiter

__all__ = ["ClientStats", "CronofyClient", "OAuthTokens", "RateLimiter"]
