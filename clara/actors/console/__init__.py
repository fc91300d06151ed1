"""The console chat: lines typed in the terminal go to the console channel's actor."""

from .chat import ConsoleChat

__all__ = ["ConsoleChat"]
