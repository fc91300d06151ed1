"""Long-term memory: mem0 over Qdrant (embedded on disk by default, or a server)."""

from ._mem0 import Mem0Memory, MemoryStore, mem0_config, memory_user_id

__all__ = ["Mem0Memory", "MemoryStore", "mem0_config", "memory_user_id"]
