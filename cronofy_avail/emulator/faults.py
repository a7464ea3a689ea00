"""Fault injection and Cronofy-style rate limiting, decided without I/O.

A :class:`FaultRule` matches an endpoint (``"GET /v1/events"``, a path prefix such as
``"/v1/available_periods"``, or ``"*"``) and can add latency, fail a share (``*_rate``) or the
next N (``*_count``) requests with a 5xx, answer 429 bursts (with or without ``Retry-After``),
or drop the connection. The HTTP layer asks :meth:`FaultInjector.decide` and acts on the answer.

A rule with ``hold`` is a gate: every matching request is parked (before anything else is
decided or handled) until the rule is released, removed or cleared; a test waits for the
parked requests with :meth:`FaultInjector.wait_held`, so it knows a request is in flight.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from cronofy_avail.emulator.validation import Errors


@dataclass(slots=True)
class FaultRule:
    endpoint: str = "*"
    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_count: int = 0
    error_status: int = 500
    rate_limit_count: int = 0
    """The next N matching requests answer 429."""
    rate_limit_rate: float = 0.0
    retry_after: float | None = None
    """``Retry-After`` seconds on the injected 429s (``None``: no header)."""
    drop_rate: float = 0.0
    drop_count: int = 0
    fault_id: str = field(default_factory=lambda: f"flt_{secrets.token_hex(6)}")
    hold: bool = False
    """Park every matching request until the rule is released (a gate for race tests)."""
    held: int = 0
    """Requests parked by this rule right now."""
    released: bool = False
    """The gate is open: matching requests go on (a released rule parks nothing more)."""
    hits: int = 0
    """Requests this rule changed (held, latency, error, 429 or drop)."""

    def matches(self, method: str, path: str) -> bool:
        if self.endpoint in ("*", ""):
            return True
        if " " in self.endpoint:
            want_method, want_path = self.endpoint.split(" ", 1)
            return want_method.upper() == method.upper() and _path_match(want_path, path)
        return _path_match(self.endpoint, path)

    def json(self) -> dict[str, Any]:
        return asdict(self)


def _path_match(pattern: str, path: str) -> bool:
    pattern = pattern.rstrip("/")
    path = path.rstrip("/")
    return path == pattern or path.startswith(pattern + "/")


def parse_rule(body: Mapping[str, Any]) -> FaultRule:
    """A rule from a control-API body; 422 on anything malformed."""
    errors = Errors()
    rule = FaultRule()
    numbers = {
        "latency_ms": float,
        "error_rate": float,
        "rate_limit_rate": float,
        "drop_rate": float,
        "error_count": int,
        "rate_limit_count": int,
        "drop_count": int,
        "error_status": int,
    }
    for name, value in body.items():
        if name == "endpoint":
            if not isinstance(value, str):
                errors.invalid(name, "endpoint must be a string such as 'GET /v1/events' or '*'")
            else:
                rule.endpoint = value
        elif name == "retry_after":
            if value is not None and (not isinstance(value, int | float) or value < 0):
                errors.invalid(name, "retry_after must be a number of seconds or null")
            else:
                rule.retry_after = None if value is None else float(value)
        elif name == "hold":
            if not isinstance(value, bool):
                errors.invalid(name, "hold must be true or false")
            else:
                rule.hold = value
        elif name in numbers:
            kind = numbers[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                errors.invalid(name, f"{name} must be a non-negative number")
                continue
            if name.endswith("_rate") and value > 1:
                errors.invalid(name, f"{name} is a probability between 0 and 1")
                continue
            setattr(rule, name, kind(value))
        else:
            errors.invalid(name, f"unknown fault setting {name}")
    if not 400 <= rule.error_status <= 599:
        errors.invalid("error_status", "error_status must be a 4xx or 5xx status")
    errors.raise_if_any()
    return rule


@dataclass(frozen=True, slots=True)
class Decision:
    latency: float = 0.0
    status: int | None = None
    """An error status to answer instead of handling the request."""
    retry_after: float | None = None
    drop: bool = False


class FaultInjector:
    def __init__(self, seed: int | None = None) -> None:
        self.rules: list[FaultRule] = []
        self._random = random.Random(seed)  # noqa: S311 - faults, not cryptography
        self._gates: dict[str, asyncio.Event] = {}
        """An open/closed event per holding rule (made when a request is first parked)."""
        self._changed = asyncio.Event()
        """Set (and replaced) whenever a parked count changes: what :meth:`wait_held` awaits."""

    def add(self, rule: FaultRule) -> FaultRule:
        self.rules.append(rule)
        return rule

    def rule(self, fault_id: str) -> FaultRule:
        """The rule ``fault_id``; :class:`KeyError` when there is none."""
        for rule in self.rules:
            if rule.fault_id == fault_id:
                return rule
        raise KeyError(fault_id)

    def remove(self, fault_id: str) -> bool:
        """Remove a rule; the requests it holds go on."""
        before = len(self.rules)
        for rule in self.rules:
            if rule.fault_id == fault_id:
                self._open(rule)
        self.rules = [r for r in self.rules if r.fault_id != fault_id]
        self._notify()
        return len(self.rules) != before

    def clear(self) -> None:
        """Remove every rule; every held request goes on."""
        self.release_all()
        self.rules.clear()
        self._notify()

    # ------------------------------------------------------------------ gates (``hold``)

    def release(self, fault_id: str) -> FaultRule:
        """Open the gate of ``fault_id``: its parked requests go on and it parks no more."""
        rule = self.rule(fault_id)
        self._open(rule)
        return rule

    def release_all(self) -> None:
        """Open every gate (the emulator stopping: nothing may stay parked)."""
        for rule in self.rules:
            self._open(rule)

    def _open(self, rule: FaultRule) -> None:
        if rule.hold:
            rule.released = True
        gate = self._gates.pop(rule.fault_id, None)
        if gate is not None:
            gate.set()

    def holds(self, method: str, path: str) -> bool:
        """A closed gate matches this request: :meth:`park` would wait."""
        return any(r.hold and not r.released and r.matches(method, path) for r in self.rules)

    async def park(self, method: str, path: str) -> None:
        """Wait at every closed gate matching the request, until each is opened."""
        for rule in [r for r in self.rules if r.hold and r.matches(method, path)]:
            if rule.released or rule not in self.rules:
                continue
            gate = self._gates.setdefault(rule.fault_id, asyncio.Event())
            rule.hits += 1
            rule.held += 1
            self._notify()
            try:
                await gate.wait()
            finally:
                rule.held -= 1
                self._notify()

    async def wait_held(self, fault_id: str, count: int = 1) -> FaultRule:
        """Wait until rule ``fault_id`` holds at least ``count`` requests; :class:`KeyError`
        if the rule is (or gets) removed first. Bound it with ``asyncio.timeout``."""
        while True:
            rule = self.rule(fault_id)
            if rule.held >= count:
                return rule
            await self._changed.wait()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _chance(self, rate: float) -> bool:
        return rate > 0 and self._random.random() < rate

    def decide(self, method: str, path: str) -> Decision:
        latency = 0.0
        for rule in self.rules:
            if not rule.matches(method, path):
                continue
            latency += rule.latency_ms / 1000.0
            if rule.drop_count > 0:
                rule.drop_count -= 1
                rule.hits += 1
                return Decision(latency=latency, drop=True)
            if self._chance(rule.drop_rate):
                rule.hits += 1
                return Decision(latency=latency, drop=True)
            if rule.rate_limit_count > 0:
                rule.rate_limit_count -= 1
                rule.hits += 1
                return Decision(latency=latency, status=429, retry_after=rule.retry_after)
            if self._chance(rule.rate_limit_rate):
                rule.hits += 1
                return Decision(latency=latency, status=429, retry_after=rule.retry_after)
            if rule.error_count > 0:
                rule.error_count -= 1
                rule.hits += 1
                return Decision(latency=latency, status=rule.error_status)
            if self._chance(rule.error_rate):
                rule.hits += 1
                return Decision(latency=latency, status=rule.error_status)
            if rule.latency_ms:
                rule.hits += 1
        return Decision(latency=latency)


class RateLimit:
    """Cronofy's per-application limit: sliding windows of one second and one minute."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        per_second: int = 50,
        per_minute: int = 500,
        retry_after: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = enabled
        self.per_second = per_second
        self.per_minute = per_minute
        self.retry_after = retry_after
        self._monotonic = monotonic
        self._starts: deque[float] = deque()
        self.rejected = 0

    def configure(self, body: Mapping[str, Any]) -> None:
        errors = Errors()
        for name, value in body.items():
            if name == "enabled":
                if not isinstance(value, bool):
                    errors.invalid(name, "enabled must be true or false")
                else:
                    self.enabled = value
            elif name in ("per_second", "per_minute"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    errors.invalid(name, f"{name} must be a positive integer")
                else:
                    setattr(self, name, value)
            elif name == "retry_after":
                if value is not None and (not isinstance(value, int | float) or value < 0):
                    errors.invalid(name, "retry_after must be seconds or null")
                else:
                    self.retry_after = None if value is None else float(value)
            else:
                errors.invalid(name, f"unknown rate-limit setting {name}")
        errors.raise_if_any()

    def json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "per_second": self.per_second,
            "per_minute": self.per_minute,
            "retry_after": self.retry_after,
            "rejected": self.rejected,
        }

    def reset(self) -> None:
        self._starts.clear()
        self.rejected = 0

    def admit(self) -> bool:
        """Count one request; ``False`` (and not counted) when over a limit."""
        if not self.enabled:
            return True
        now = self._monotonic()
        while self._starts and self._starts[0] <= now - 60.0:
            self._starts.popleft()
        in_second = sum(1 for t in reversed(self._starts) if t > now - 1.0)
        if in_second >= self.per_second or len(self._starts) >= self.per_minute:
            self.rejected += 1
            return False
        self._starts.append(now)
        return True
