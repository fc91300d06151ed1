"""A child that owns what a group of siblings shares (an HTTP client, a helper process).

Shared resources are made when the tree is declared, handed to the children that use them
as constructor arguments, and closed by one ``closing_child`` when the tree stops. Put it
before the children that use the resource: children stop in reverse start order, so it
closes last, once nothing uses the resource any more. Use it in a ONE_FOR_ONE supervisor:
under ONE_FOR_ALL or REST_FOR_ONE a sibling's crash would stop it (and close the resource)
while the siblings that use it are started again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from ..actors import Actor
from ._spec import ChildSpec, Restart

__all__ = ["ResourceOwner", "closing_child"]

logger = logging.getLogger(__name__)

Close = Callable[[], Awaitable[Any]]


class ResourceOwner(Actor):
    """Receives nothing; at stop, awaits each ``close`` in turn (shielded, errors logged).

    Args:
        closers: coroutine functions that close one resource each, called in order.
    """

    def __init__(self, *closers: Close) -> None:
        self._closers = closers

    async def on_receive(self, message: Any) -> None:
        raise TypeError(f"{type(self).__name__} takes no messages; got {type(message).__name__}")

    async def on_stop(self) -> None:
        for close in self._closers:
            with trio.CancelScope(shield=True):
                try:
                    await close()
                except Exception as exc:
                    logger.warning(
                        "%s: closing a shared resource failed: %s: %s",
                        self.context.path,
                        type(exc).__name__,
                        exc,
                    )


def closing_child(child_id: str, *closers: Close, shutdown: float = 10.0) -> ChildSpec:
    """A TEMPORARY child that closes ``closers``' resources when its supervisor stops it.

    Temporary: a closed resource cannot be reopened by restarting its owner, so the owner is
    never restarted (it takes no messages, so it never crashes on its own).
    """
    return ChildSpec(
        child_id,
        lambda: ResourceOwner(*closers),
        restart=Restart.TEMPORARY,
        shutdown=shutdown,
        mailbox_capacity=1,
    )
