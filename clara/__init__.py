"""Clara: an AI companion for Discord, built as an actor system on trio."""

__version__ = "0.1.0"
