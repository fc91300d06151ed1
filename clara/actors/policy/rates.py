"""Each person's rate of messages or operations: a token bucket, refilled continuously."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class _Bucket:
    tokens: float
    updated: float
    noticed_at: float = -1e9


class UserRates:
    """Token buckets keyed by person; the quiet ones are forgotten past ``keep`` people."""

    def __init__(self, keep: int = 1000) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._keep = keep

    def take(
        self, user_id: str, now: float, *, per_minute: int, notice_interval: float
    ) -> Literal["ok", "notice", "quiet"]:
        """Spend one token: ``ok``; none left: ``notice`` at most once per
        ``notice_interval``, else ``quiet``."""
        rate = float(per_minute)
        bucket = self._buckets.get(user_id)
        if bucket is None:
            if len(self._buckets) >= self._keep:  # a full bucket is the same as none
                self._buckets = {
                    k: b
                    for k, b in self._buckets.items()
                    if b.tokens + (now - b.updated) * rate / 60.0 < rate
                }
            bucket = self._buckets[user_id] = _Bucket(tokens=rate, updated=now)
        bucket.tokens = min(rate, bucket.tokens + (now - bucket.updated) * rate / 60.0)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return "ok"
        if now - bucket.noticed_at >= notice_interval:
            bucket.noticed_at = now
            return "notice"
        return "quiet"

    def seconds_until_next(self, user_id: str, now: float, *, per_minute: int) -> float:
        """How long until ``user_id`` has a token again (0 when they have one now)."""
        bucket = self._buckets.get(user_id)
        if bucket is None:
            return 0.0
        rate = float(per_minute)
        tokens = min(rate, bucket.tokens + (now - bucket.updated) * rate / 60.0)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) * 60.0 / rate
