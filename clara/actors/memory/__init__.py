"""The memory actor: the one owner of mem0 (over Qdrant), batched writes, bounded searches."""

from .actor import Flush, Forget, MemoryActor, Recall, Remember, searcher

__all__ = ["Flush", "Forget", "MemoryActor", "Recall", "Remember", "searcher"]
