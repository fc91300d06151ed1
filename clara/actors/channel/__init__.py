"""Conversations: one ``ChannelActor`` per chat channel (one per person in a DM).

- ``actor``: the channel actor (claim, queue, reply, stop phrases, rates).
- ``messages``: what it is told (``Converse``, ``SettingsChanged``, ...).
- ``context``: the system prompt, history and memories a reply is built from.
- ``summary``: folding older messages into the rolling summary.
- ``subsystem``: the ``channels`` DynamicSupervisor's ``ChildSpec`` for the root.
"""

from .actor import ChannelActor, ChannelDependencies
from .messages import Converse, ReplyDone, SettingsChanged, parse_tier

__all__ = [
    "ChannelActor",
    "ChannelDependencies",
    "Converse",
    "ReplyDone",
    "SettingsChanged",
    "parse_tier",
]
