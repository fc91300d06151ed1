"""Discord: the gateway actor (discord.py through trio-asyncio) and the slash commands."""

from .commands import COMMANDS, CommandDependencies, Invocation, run_command
from .gateway import DiscordGateway
from .routing import OrderedRouter

__all__ = [
    "COMMANDS",
    "CommandDependencies",
    "DiscordGateway",
    "Invocation",
    "OrderedRouter",
    "run_command",
]
