"""Discord: the gateway actor (discord.py through trio-asyncio) and the slash commands."""

from .commands import COMMANDS, CommandDependencies, Invocation, run_command
from .gateway import DiscordGateway
from .intake import Intake, IntakeGate
from .routing import OrderedRouter

__all__ = [
    "COMMANDS",
    "CommandDependencies",
    "DiscordGateway",
    "Intake",
    "IntakeGate",
    "Invocation",
    "OrderedRouter",
    "run_command",
]
