"""A circuit breaker per provider: stop calling one that keeps failing, probe it later."""

from __future__ import annotations

import enum

import msgspec

__all__ = ["BreakerSnapshot", "BreakerState", "CircuitBreaker"]


class BreakerState(enum.Enum):
    CLOSED = "closed"
    """Calls go through."""
    OPEN = "open"
    """Calls are refused until the cool-down ends."""
    HALF_OPEN = "half_open"
    """One probe call is let through; its outcome closes or reopens the breaker."""


class BreakerSnapshot(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    state: BreakerState
    consecutive_failures: int
    opened_at: float | None
    retry_at: float | None
    calls: int
    failures: int
    last_error: str | None


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; half-opens ``cooldown`` seconds later.

    Time is passed in (trio's clock), so it runs in virtual time in tests.

    Args:
        threshold: consecutive failures that open it (default 3).
        cooldown: seconds it stays open before one probe is allowed (default 30).
    """

    def __init__(self, threshold: int = 3, cooldown: float = 30.0) -> None:
        if threshold < 1:
            raise ValueError(f"breaker threshold must be at least 1; got {threshold!r}")
        if not cooldown > 0:
            raise ValueError(f"breaker cooldown must be positive seconds; got {cooldown!r}")
        self.threshold = threshold
        self.cooldown = cooldown
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self.opened_at: float | None = None
        self.calls = 0
        self.failures = 0
        self.last_error: str | None = None
        self._probing = False

    def allow(self, now: float) -> bool:
        """May a call go through now? (A half-open breaker lets exactly one probe through.)"""
        if self.state is BreakerState.OPEN:
            assert self.opened_at is not None
            if now < self.opened_at + self.cooldown:
                return False
            self.state = BreakerState.HALF_OPEN
            self._probing = False
        if self.state is BreakerState.HALF_OPEN:
            if self._probing:
                return False
            self._probing = True
        return True

    def succeeded(self) -> None:
        self.calls += 1
        self.consecutive_failures = 0
        self.state = BreakerState.CLOSED
        self.opened_at = None
        self._probing = False

    def failed(self, now: float, error: str) -> None:
        self.calls += 1
        self.failures += 1
        self.consecutive_failures += 1
        self.last_error = error
        self._probing = False
        if self.state is BreakerState.HALF_OPEN or self.consecutive_failures >= self.threshold:
            self.state = BreakerState.OPEN
            self.opened_at = now

    def snapshot(self) -> BreakerSnapshot:
        return BreakerSnapshot(
            state=self.state,
            consecutive_failures=self.consecutive_failures,
            opened_at=self.opened_at,
            retry_at=None if self.opened_at is None else self.opened_at + self.cooldown,
            calls=self.calls,
            failures=self.failures,
            last_error=self.last_error,
        )
