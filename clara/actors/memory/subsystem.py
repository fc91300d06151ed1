"""The ``memory`` child of the root: the one owner of mem0 over Qdrant."""

from __future__ import annotations

from ...adapters.memory import Mem0Memory, mem0_config
from ...config import Settings
from ...supervisors import ChildSpec
from .actor import MemoryActor

__all__ = ["memory_subsystem"]


def memory_subsystem(settings: Settings) -> ChildSpec | None:
    """The memory actor's spec, or None when memory is turned off (``CLARA_MEMORY_ENABLED``).

    Its mailbox is large (every exchange tells it one ``Remember``) and its shutdown long:
    pending writes are written before it stops.
    """
    memory = settings.memory
    if not memory.enabled:
        return None
    folder = settings.runtime.data_dir.resolve() / "mem0"
    return ChildSpec(
        "memory",
        lambda: MemoryActor(
            lambda: Mem0Memory(mem0_config(settings), folder),
            batch_seconds=memory.batch_seconds,
            search_timeout=memory.search_timeout,
        ),
        mailbox_capacity=10_000,
        shutdown=30.0,
    )
