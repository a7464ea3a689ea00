"""The client's counts, shared by its request loop and its token handling."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class ClientStats:
    """Counts for status pages, tests and benchmarks (never timings)."""

    requests: int = 0
    retries: int = 0
    refreshes: int = 0
    by_endpoint: Counter[str] = field(default_factory=Counter)
