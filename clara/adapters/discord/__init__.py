"""Discord: discord.py in the root's trio-asyncio loop, as a chat platform for Clara."""

from ._bridge import DiscordBridge, to_message
from ._commands import CommandHandler
from ._protocol import Bridge

__all__ = ["Bridge", "CommandHandler", "DiscordBridge", "to_message"]
