"""The read-only commands: ``/clara channel``, ``/model status`` and ``/memory status``.

Each reads what is already there (the stored settings, an actor's ``statistics()``) and
says it in a few lines; none changes anything, so anyone may run them.
"""

from __future__ import annotations

from typing import Any

from ...store import ChannelConfig, Database, GuildConfig, channel_config, guild_config
from .. import ActorRef

__all__ = ["channel_report", "memory_report", "model_report"]


async def _configs(
    database: Database | None, platform: str, channel_id: str, guild_id: str | None
) -> tuple[ChannelConfig, GuildConfig]:
    if database is None:
        return ChannelConfig(), GuildConfig()
    channel = await database.run(channel_config, platform, channel_id)
    guild = await database.run(guild_config, platform, guild_id)
    return channel, guild


async def channel_report(
    database: Database | None,
    platform: str,
    channel_id: str,
    guild_id: str | None,
    channel: ActorRef | None,
) -> str:
    """This channel's reply mode, tier, queue and allow-lists."""
    config, guild = await _configs(database, platform, channel_id, guild_id)
    tier = config.default_tier or guild.default_tier
    whose = "this channel's" if config.default_tier else "the server's"
    lines = [f"Reply mode here: {config.reply_mode}. Default tier: {tier} ({whose})."]
    details: dict[str, Any] = (channel.statistics().details or {}) if channel else {}
    if details:
        doing = "replying now" if details.get("replying") else "not replying"
        lines.append(f"Queue: {doing}, {details.get('queued', 0)} waiting.")
    roles = ", ".join(f"<@&{role}>" for role in config.allowed_roles) or "everyone"
    lines.append(f"Who Clara answers here: {roles}.")
    if guild_id is not None:
        channels = ", ".join(f"<#{c}>" for c in guild.allowed_channels) or "every channel"
        lines.append(f"Where Clara answers on this server: {channels}.")
    return "\n".join(lines)


def model_report(llm: ActorRef | None, tier: str) -> str:
    """Each model provider in failover order, whether it answers, and the tier here."""
    details: dict[str, Any] = (llm.statistics().details or {}) if llm else {}
    providers: list[dict[str, Any]] = details.get("providers", [])
    if not providers:
        return f"No model provider has been checked yet. Default tier here: {tier}."
    lines = ["Model providers, in failover order:"]
    for provider in providers:
        breaker = provider["breaker"]
        state = "answering" if provider["up"] else f"not answering ({breaker['state']})"
        latency = provider.get("last_latency_ms")
        timing = f", last answer in {latency:.0f} ms" if latency is not None else ""
        error = f"; last error: {breaker['last_error']}" if breaker.get("last_error") else ""
        lines.append(f"- {provider['name']}: {state}{timing}{error}")
    lines.append(f"Default tier here: {tier}. Start a message with !high, !mid or !low to choose.")
    return "\n".join(lines)


def memory_report(memory: ActorRef | None) -> str:
    """Whether memory is on, and how it is doing."""
    if memory is None:
        return "Memory is turned off (CLARA_MEMORY_ENABLED)."
    details: dict[str, Any] = memory.statistics().details or {}
    state = memory.statistics().state.value
    lines = [f"Memory is on ({state})."]
    if details:
        lines.append(
            f"Searches: {details.get('searches', 0)} "
            f"({details.get('search_timeouts', 0)} too slow, "
            f"{details.get('searches_skipped', 0)} skipped while the embedder was down). "
            f"Writes: {details.get('writes', 0)} ({details.get('messages_written', 0)} "
            f"messages); waiting to be written: {details.get('pending_messages', 0)}. "
            f"Errors: {details.get('errors', 0)}."
        )
    lines.append("/memory search shows what I remember about you; /memory clear forgets it.")
    return "\n".join(lines)
