"""Server settings shared by a process's channels: one read serves them all for a minute."""

from __future__ import annotations

import pytest

from clara.actors.channel.guilds import GuildSettingsCache
from clara.store import GuildConfig


def test_an_entry_is_used_for_its_ttl_then_read_again() -> None:
    cache = GuildSettingsCache(ttl=60.0)
    config = GuildConfig(allowed_channels=("c1",))
    assert cache.get("discord", "g1", 0.0) is None
    cache.put("discord", "g1", config, 10.0)
    assert cache.get("discord", "g1", 69.9) is config
    assert cache.get("discord", "g1", 70.0) is None
    assert cache.get("console", "g1", 11.0) is None  # another platform, another server


def test_a_change_is_forgotten_at_once_and_the_oldest_entry_goes_first() -> None:
    cache = GuildSettingsCache(limit=2)
    for n, guild in enumerate(("g1", "g2", "g3")):
        cache.put("discord", guild, GuildConfig(), float(n))
    assert cache.get("discord", "g1", 3.0) is None
    assert cache.get("discord", "g3", 3.0) is not None
    cache.forget("discord", "g3")
    assert cache.get("discord", "g3", 3.0) is None


def test_bad_bounds_are_refused_with_the_argument_named() -> None:
    with pytest.raises(ValueError, match="ttl: expected seconds >= 0, got -1"):
        GuildSettingsCache(ttl=-1)
    with pytest.raises(ValueError, match="limit: expected an integer >= 1, got 0"):
        GuildSettingsCache(limit=0)
