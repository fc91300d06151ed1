"""Discord: discord.py in the root's trio-asyncio loop, as a chat platform for Clara."""

from ._bridge import DiscordBridge, to_message

__all__ = ["DiscordBridge", "to_message"]
