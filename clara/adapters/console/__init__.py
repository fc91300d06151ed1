"""The console: chat with Clara in a terminal, through the same channel actor as Discord."""

from ._console import CONSOLE_CHANNEL, ConsoleTransport, PlainTransport, console_message

__all__ = ["CONSOLE_CHANNEL", "ConsoleTransport", "PlainTransport", "console_message"]
