"""The operator's view: a process's counters in the Prometheus text exposition format.

Hand-written (format 0.0.4: ``# HELP``, ``# TYPE``, one sample a line) rather than
``prometheus_client``: a dozen families, one histogram, all read from counts the parts already
keep, so a client library's registry, locks and metric objects would only copy them. Nothing
here is imported by ``import cronofy_avail``.

Label values come from fixed sets only (a reason code, a sync outcome, a notification type):
never a user id, a callback key, a token or a URL. A value outside its set is counted as
``other``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from cronofy_avail.client.ratelimit import RateLimiter
from cronofy_avail.core.intents import UserState
from cronofy_avail.core.outcomes import SyncResult

PREFIX = "cronofy_avail_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OTHER = "other"

SYNC_SECONDS_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Upper bounds of the sync duration histogram (seconds); ``+Inf`` is added."""

SYNC_OUTCOMES = (
    "ok",
    "busy",
    UserState.RETRYING,
    UserState.NEEDS_REAUTH,
    UserState.DISCONNECTED,
    UserState.FAILED,
)
SYNC_KINDS = ("full", "incremental")

REFUSAL_REASONS = (
    "unknown_key",
    "missing_signature",
    "malformed_signature",
    "signature_mismatch",
    "no_secret_configured",
    "malformed",
    "too_large",
    "unreadable_body",
    "body_timeout",
    "client_gone",
    "busy",
    "store_unavailable",
)
"""Why the receiver refused a delivery (its ``rejected`` counts); the label's whole set."""

NOTIFICATION_TYPES = (
    "change",
    "verification",
    "profile_disconnected",
    "profile_initial_sync_completed",
)


@runtime_checkable
class PendingSource(Protocol):
    """A store that can summarise its pending intents in one cheap (indexed) query: the users
    with an intent no sync has settled yet, and when the oldest notification no sync has
    covered was received."""

    async def pending_intents(self) -> tuple[int, datetime | None]: ...


@dataclass(slots=True)
class SyncMetrics:
    """Syncs by kind and outcome, and their durations: fed by a coordinator's or a worker's
    sync listener (``add_listener``)."""

    buckets: tuple[float, ...] = SYNC_SECONDS_BUCKETS
    count: Counter[tuple[str, str]] = field(default_factory=Counter)
    bucket_counts: list[int] = field(default_factory=list)
    seconds_sum: float = 0.0
    seconds_count: int = 0

    def __post_init__(self) -> None:
        self.bucket_counts = [0] * len(self.buckets)

    def observe(self, user_id: str, result: SyncResult) -> None:
        """A :data:`~cronofy_avail.runtime.coordinator.SyncListener` (the user id is not
        kept)."""
        del user_id
        if result.dry_run:
            return
        kind = result.kind if result.kind in SYNC_KINDS else OTHER
        if result.busy:
            outcome = "busy"
        elif result.ok:
            outcome = "ok"
        else:
            outcome = result.state if result.state in SYNC_OUTCOMES else OTHER
        self.count[(kind, outcome)] += 1
        if result.busy:
            return  # nothing ran: not a duration
        seconds = max(0.0, (result.finished_at - result.started_at).total_seconds())
        self.seconds_sum += seconds
        self.seconds_count += 1
        for i, bound in enumerate(self.buckets):
            if seconds <= bound:
                self.bucket_counts[i] += 1


Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


class Exposition:
    """Builds one scrape's text: families in the order added."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def family(
        self, name: str, kind: str, help_text: str, samples: Iterable[tuple[Labels, float]]
    ) -> None:
        # Format 0.0.4 names a counter's family as its samples: with ``_total``.
        full = PREFIX + name + ("_total" if kind == "counter" else "")
        self._lines.append(f"# HELP {full} {help_text}")
        self._lines.append(f"# TYPE {full} {kind}")
        for labels, value in samples:
            self._lines.append(f"{full}{_labels(labels)} {_number(value)}")

    def histogram(self, name: str, help_text: str, sync: SyncMetrics) -> None:
        full = PREFIX + name
        self._lines.append(f"# HELP {full} {help_text}")
        self._lines.append(f"# TYPE {full} histogram")
        for bound, count in zip(sync.buckets, sync.bucket_counts, strict=True):
            self._lines.append(f'{full}_bucket{{le="{_number(bound)}"}} {count}')
        self._lines.append(f'{full}_bucket{{le="+Inf"}} {sync.seconds_count}')
        self._lines.append(f"{full}_sum {_number(sync.seconds_sum)}")
        self._lines.append(f"{full}_count {sync.seconds_count}")

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


def bounded(counts: Mapping[str, int], allowed: Iterable[str]) -> dict[str, int]:
    """``counts`` over ``allowed`` (each present, 0 if never counted) plus ``other``."""
    known = list(allowed)
    out = dict.fromkeys(known, 0)
    out[OTHER] = 0
    for name, count in counts.items():
        out[name if name in out and name != OTHER else OTHER] += count
    return out


Clock = Callable[[], datetime]


@dataclass(slots=True)
class ProcessMetrics:
    """What one process exposes: each source is optional (a worker receives nothing, a
    receiver in a cluster syncs nothing). Gauges that need the store are read per scrape."""

    clock: Clock
    syncs: SyncMetrics = field(default_factory=SyncMetrics)
    accepted: Mapping[str, int] | None = None
    """The receiver's accepted deliveries by notification type."""
    rejected: Mapping[str, int] | None = None
    """The receiver's refused deliveries by reason."""
    limiter: RateLimiter | None = None
    pending: PendingSource | None = None
    queue_depth: Callable[[], Awaitable[int]] | None = None
    syncs_here: bool = False
    """Syncs run in this process (a coordinator or a worker): the sync families are shown."""

    async def render(self) -> str:
        out = Exposition()
        if self.accepted is not None and self.rejected is not None:
            accepted = bounded(self.accepted, NOTIFICATION_TYPES)
            out.family(
                "webhook_deliveries",
                "counter",
                "Deliveries answered, by outcome: accepted (202) or the reason of a refusal.",
                [((("outcome", "accepted"),), sum(accepted.values()))]
                + [
                    ((("outcome", reason),), count)
                    for reason, count in bounded(self.rejected, REFUSAL_REASONS).items()
                ],
            )
            out.family(
                "webhook_accepted",
                "counter",
                "Accepted deliveries by notification type.",
                [((("type", kind),), count) for kind, count in accepted.items()],
            )
        if self.pending is not None:
            users, oldest_at = await self.pending.pending_intents()
            out.family(
                "pending_intents",
                "gauge",
                "Users with a recorded intent no sync has settled yet.",
                [((), users)],
            )
            age = 0.0
            if oldest_at is not None:
                age = max(0.0, (self.clock() - oldest_at).total_seconds())
            out.family(
                "oldest_pending_intent_age_seconds",
                "gauge",
                "Seconds since the oldest notification no sync has covered was received "
                "(0: nothing pending).",
                [((), age)],
            )
        if self.queue_depth is not None:
            out.family(
                "queue_jobs",
                "gauge",
                "Sync jobs waiting in the cluster's queue (procrastinate status todo).",
                [((), await self.queue_depth())],
            )
        if self.syncs_here:
            sync = self.syncs
            out.family(
                "syncs",
                "counter",
                "Syncs run in this process, by kind and outcome.",
                [
                    ((("kind", kind), ("outcome", outcome)), sync.count[(kind, outcome)])
                    for kind in SYNC_KINDS
                    for outcome in SYNC_OUTCOMES
                ]
                + [
                    ((("kind", kind), ("outcome", outcome)), n)
                    for (kind, outcome), n in sorted(sync.count.items())
                    if kind not in SYNC_KINDS or outcome not in SYNC_OUTCOMES
                ],
            )
            out.histogram(
                "sync_duration_seconds", "Duration of the syncs run in this process.", sync
            )
        if self.limiter is not None:
            limiter = self.limiter
            out.family(
                "cronofy_requests",
                "counter",
                "Cronofy API requests this process started (each try, after the rate limiter).",
                [((), limiter.acquired)],
            )
            out.family(
                "cronofy_throttled",
                "counter",
                "Cronofy answers 429 (Too Many Requests) this process received.",
                [((), limiter.throttled)],
            )
            out.family(
                "rate_limiter_waits",
                "counter",
                "Times a Cronofy request waited for the application-wide rate limiter.",
                [((), limiter.waits)],
            )
            out.family(
                "rate_limiter_wait_seconds",
                "counter",
                "Seconds Cronofy requests waited for the application-wide rate limiter.",
                [((), limiter.waited)],
            )
        return out.text()


__all__ = [
    "CONTENT_TYPE",
    "NOTIFICATION_TYPES",
    "REFUSAL_REASONS",
    "SYNC_SECONDS_BUCKETS",
    "Exposition",
    "PendingSource",
    "ProcessMetrics",
    "SyncMetrics",
    "bounded",
]
