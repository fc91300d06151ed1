"""Clara's slash commands as discord.py application commands."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord
import trio_asyncio
from discord import app_commands

from ..chat import Author

__all__ = ["CommandHandler", "install_commands"]

logger = logging.getLogger(__name__)

#: (group, name, options, channel id, guild id, author) -> the text to answer with.
CommandHandler = Callable[[str, str, dict[str, Any], str, str | None, Author], Awaitable[str]]


def _author(interaction: discord.Interaction) -> Author:
    user = interaction.user
    permissions = interaction.permissions
    is_dm = interaction.guild_id is None
    roles = tuple(str(role.id) for role in getattr(user, "roles", ()) if not role.is_default())
    return Author(
        id=str(user.id),
        name=user.display_name,
        roles=roles,
        is_admin=is_dm or permissions.administrator or permissions.manage_guild,
    )


def install_commands(tree: app_commands.CommandTree[Any], handler: CommandHandler) -> None:
    """Add /clara, /channel, /model, /memory and /mcp to ``tree``; answers are ephemeral."""

    async def answer(
        interaction: discord.Interaction, group: str, name: str, options: dict[str, Any]
    ) -> None:
        slow = group == "mcp"  # installs take longer than Discord's 3 s to answer
        if slow:
            await interaction.response.defer(ephemeral=True, thinking=True)
        text = await trio_asyncio.trio_as_aio(handler)(
            group,
            name,
            options,
            str(interaction.channel_id),
            None if interaction.guild_id is None else str(interaction.guild_id),
            _author(interaction),
        )
        if slow:
            await interaction.followup.send(text[:2000], ephemeral=True)
        else:
            await interaction.response.send_message(text[:2000], ephemeral=True)

    clara_group = app_commands.Group(name="clara", description="About Clara")

    @clara_group.command(name="help", description="What Clara can do, and her commands")
    async def clara_help(interaction: discord.Interaction) -> None:
        await answer(interaction, "clara", "help", {})

    @clara_group.command(name="info", description="Clara's version and this channel's settings")
    async def clara_info(interaction: discord.Interaction) -> None:
        await answer(interaction, "clara", "info", {})

    @clara_group.command(name="channel", description="This channel: mode, tier, queue, who")
    async def clara_channel(interaction: discord.Interaction) -> None:
        await answer(interaction, "clara", "channel", {})

    channel_group = app_commands.Group(name="channel", description="Clara in this channel")

    @channel_group.command(name="mode", description="Admin: how Clara answers here")
    @app_commands.describe(mode="mention: when mentioned; active: every message; off")
    @app_commands.choices(
        mode=[app_commands.Choice(name=m, value=m) for m in ("mention", "active", "off")]
    )
    async def channel_mode(interaction: discord.Interaction, mode: str) -> None:
        await answer(interaction, "channel", "mode", {"mode": mode})

    model_group = app_commands.Group(name="model", description="Clara's models")

    @model_group.command(name="tier", description="Admin: the default model tier here")
    @app_commands.choices(
        tier=[app_commands.Choice(name=t, value=t) for t in ("high", "mid", "low")]
    )
    async def model_tier(interaction: discord.Interaction, tier: str) -> None:
        await answer(interaction, "model", "tier", {"tier": tier})

    @model_group.command(name="auto", description="Admin: a quick call chooses each tier here")
    @app_commands.describe(mode="on, off, or default (Clara's own setting)")
    @app_commands.choices(
        mode=[app_commands.Choice(name=m, value=m) for m in ("on", "off", "default")]
    )
    async def model_auto(interaction: discord.Interaction, mode: str) -> None:
        await answer(interaction, "model", "auto", {"mode": mode})

    @model_group.command(name="status", description="The model providers and the tier here")
    async def model_status(interaction: discord.Interaction) -> None:
        await answer(interaction, "model", "status", {})

    memory_group = app_commands.Group(name="memory", description="What Clara remembers of you")

    @memory_group.command(name="search", description="Search what Clara remembers about you")
    async def memory_search(interaction: discord.Interaction, query: str) -> None:
        await answer(interaction, "memory", "search", {"query": query})

    @memory_group.command(name="clear", description="Forget everything about you (confirm)")
    async def memory_clear(interaction: discord.Interaction, confirm: bool = False) -> None:
        await answer(interaction, "memory", "clear", {"confirm": confirm})

    @memory_group.command(name="status", description="Whether memory is on, and how it is doing")
    async def memory_status(interaction: discord.Interaction) -> None:
        await answer(interaction, "memory", "status", {})

    mcp_group = app_commands.Group(name="mcp", description="Clara's tools from MCP servers")

    @mcp_group.command(name="list", description="The MCP servers Clara has")
    async def mcp_list(interaction: discord.Interaction) -> None:
        await answer(interaction, "mcp", "list", {})

    @mcp_group.command(name="status", description="How MCP servers are doing")
    async def mcp_status(interaction: discord.Interaction, name: str = "") -> None:
        await answer(interaction, "mcp", "status", {"name": name})

    @mcp_group.command(name="tools", description="The tools of one MCP server")
    async def mcp_tools(interaction: discord.Interaction, name: str) -> None:
        await answer(interaction, "mcp", "tools", {"name": name})

    @mcp_group.command(name="install", description="Admin: install an MCP server")
    @app_commands.describe(
        source="npm:PACKAGE[@VERSION], github:OWNER/REPO[#REF], image:REF, path:/DIR or https URL",
        name="the server's name (default: from the source)",
        managers="only these people and roles may manage it (besides being admins)",
        env="secret variables it needs, NAME=VALUE separated by spaces (stored encrypted)",
    )
    async def mcp_install(
        interaction: discord.Interaction,
        source: str,
        name: str = "",
        managers: str = "",
        env: str = "",
    ) -> None:
        options = {"source": source, "name": name, "managers": managers, "env": env}
        await answer(interaction, "mcp", "install", options)

    def simple(operation: str, text: str) -> None:
        @mcp_group.command(name=operation, description=text)
        async def command(interaction: discord.Interaction, name: str) -> None:
            await answer(interaction, "mcp", operation, {"name": name})

    simple("uninstall", "Admin: remove an MCP server, its tokens and files")
    simple("enable", "Admin: offer an MCP server's tools again")
    simple("disable", "Admin: stop an MCP server and stop offering its tools")
    simple("restart", "Admin: restart an MCP server")

    for group in (clara_group, channel_group, model_group, memory_group, mcp_group):
        tree.add_command(group)
