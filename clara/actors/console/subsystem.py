"""The ``console`` child of the root: a chat in the terminal when no Discord token is set;
and ``answer_once``, the one-shot form scripts use (``run.py --once``)."""

from __future__ import annotations

from collections.abc import Callable

import trio

from ...adapters.console import CONSOLE_CHANNEL, console_message
from ...supervisors import ChildSpec, Restart, SupervisorBase
from .. import ActorRef, ActorSystem
from ..channel import Converse
from ..channel.subsystem import Channels
from .chat import ConsoleChat

__all__ = ["answer_once", "console_subsystem"]


def console_subsystem(channels: Channels, on_end: Callable[[], None]) -> ChildSpec:
    """Reads the terminal into the console channel's actor; ``on_end`` runs at Ctrl-D.

    Transient: restarted if it crashes (the chat must not end while the process goes on
    ignoring the terminal), not once its input has ended (it returns normally then).
    """

    async def console_channel() -> ActorRef:
        return await channels.ref(CONSOLE_CHANNEL)

    return ChildSpec(
        "console", lambda: ConsoleChat(console_channel, on_end), restart=Restart.TRANSIENT
    )


async def answer_once(
    root: SupervisorBase, channels: Channels, system: ActorSystem, text: str
) -> int:
    """Run the tree, answer ``text`` through the console channel's actor, stop the tree.

    Returns:
        0 when a reply was given, 1 when none was.
    """
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run, system)
        channel = await channels.ref(CONSOLE_CHANNEL)
        reply = await channel.ask(Converse(message=console_message(text)), timeout=None)
        await root.stop()
    return 0 if reply else 1
