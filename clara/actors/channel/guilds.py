"""Server settings shared by every channel of a process, read once a minute at most.

A server's settings (allowed channels, default tier, automatic tiers) are the same for each
of its channels, and each channel needs them for every message (``allowed``). Read per
channel, a server with many channels would read them once per channel on each first
message; here one read serves them all, for ``ttl`` seconds. A change made by a slash
command is forgotten at once (``forget``); one made elsewhere (another replica) is seen
within ``ttl``.
"""

from __future__ import annotations

from ...store import GuildConfig

__all__ = ["GuildSettingsCache"]


class GuildSettingsCache:
    """``(platform, guild id) → GuildConfig``, each entry good for ``ttl`` seconds.

    Args:
        ttl: seconds an entry is used before it is read again.
        limit: entries kept at most (the oldest go first).

    Raises:
        ValueError: ``ttl`` is negative or ``limit`` below 1.
    """

    def __init__(self, ttl: float = 60.0, limit: int = 10_000) -> None:
        if ttl < 0:
            raise ValueError(f"ttl: expected seconds >= 0, got {ttl!r}")
        if limit < 1:
            raise ValueError(f"limit: expected an integer >= 1, got {limit!r}")
        self.ttl = ttl
        self.limit = limit
        self._entries: dict[tuple[str, str], tuple[GuildConfig, float]] = {}

    def get(self, platform: str, guild_id: str, now: float) -> GuildConfig | None:
        """The settings read less than ``ttl`` seconds before ``now``, else None."""
        entry = self._entries.get((platform, guild_id))
        if entry is None or now - entry[1] >= self.ttl:
            return None
        return entry[0]

    def put(self, platform: str, guild_id: str, config: GuildConfig, now: float) -> None:
        key = (platform, guild_id)
        self._entries.pop(key, None)
        if len(self._entries) >= self.limit:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (config, now)

    def forget(self, platform: str, guild_id: str) -> None:
        """Drop the entry (its settings just changed): the next message reads them again."""
        self._entries.pop((platform, guild_id), None)
