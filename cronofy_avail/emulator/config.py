"""Emulator settings. Defaults follow Cronofy (and the house rules of the contract); tests
shrink the time-based ones to milliseconds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    page_size: int = 50
    """Events and Available Periods per page (house rule: 50)."""
    access_token_ttl: int = 3600
    """Seconds an access token lives (``expires_in``)."""
    rotate_refresh_tokens: bool = False
    """Issue a new refresh token on every refresh and revoke the old one."""
    rate_limit_enabled: bool = True
    rate_limit_per_second: int = 50
    rate_limit_per_minute: int = 500
    rate_limit_retry_after: float | None = None
    """Seconds sent in ``Retry-After`` on a rate-limit 429; ``None`` sends no header."""
    max_channels: int = 128
    batch_max_entries: int = 50
    debounce: float = 1.0
    """Seconds changes are collected before one ``change`` notification is sent."""
    delivery_timeout: float = 5.0
    """Seconds a callback has to answer 2xx."""
    retry_initial_delay: float = 5.0
    retry_max_delay: float = 3600.0
    retry_backoff: float = 2.0
    failure_window: float = 24 * 3600.0
    """Seconds of continuous delivery failure after which a channel is closed."""
    control_api: bool = True
    """Serve ``/_emulator/...``."""
    body_timeout: float = 10.0
    """Seconds a request's body may take to arrive once its head has (408 after): a client
    that announces a body and sends none must not hold a connection for ever."""
    allowed_hosts: tuple[str, ...] = ()
    """Host names (besides IP addresses and ``localhost``) the emulator answers for; a request
    whose ``Host`` names any other is refused (403), so a page whose name was rebound to this
    address (DNS rebinding) cannot read or change anything."""
    fault_seed: int | None = None
    """Seed of the random generator behind fault rates (``None``: unseeded)."""
    request_log_size: int = 10_000
    events_days_back: int = 16
    events_days_ahead: int = 201
    own_changes_count: bool = False
    """Whether this application's own writes to events (managed event upserts and deletes,
    edits and deletes of external events by ``event_uid``) count as modifications. ``False``
    (the default) is Cronofy's documented behaviour: ``last_modified`` filters on when events
    were "last externally modified, ie not by the application" (Cronofy docs, Filtering
    Events), so only changes made outside this application are returned or notified. ``True``
    makes them count as well (pycronofy's docstring words ``last_modified`` as "modified on or
    after"), for a program that must cope with either; docs/api-contract.md §5 and §10 give
    the evidence; ``cronofy-avail emulator --own-changes-count`` switches it."""
