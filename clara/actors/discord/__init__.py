"""Discord: the gateway actor (discord.py through trio-asyncio) and the slash commands."""

from .commands import COMMANDS, CommandDependencies, Invocation, run_command
from .gateway import DiscordGateway, router

__all__ = [
    "COMMANDS",
    "CommandDependencies",
    "DiscordGateway",
    "Invocation",
    "router",
    "run_command",
]
