"""An in-memory MemoryStore: words in common make a match. For testing memory's users."""

from __future__ import annotations

import threading

__all__ = ["FakeMemory"]


class FakeMemory:
    """Keeps every user message as a memory; counts calls (the batching is measured on it).

    Args:
        add_delay: seconds each ``add`` blocks (a slow store, run in a thread).
        search_delay: seconds each ``search`` blocks.
    """

    def __init__(self, add_delay: float = 0.0, search_delay: float = 0.0) -> None:
        self.memories: dict[str, list[str]] = {}
        self.add_calls: list[tuple[str, int]] = []
        self.search_calls = 0
        self.add_delay = add_delay
        self.search_delay = search_delay
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._release.set()

    def hold(self) -> None:
        """Make the next blocking calls wait until ``release()``."""
        self._release.clear()

    def release(self) -> None:
        self._release.set()

    def add(self, user_id: str, messages: list[dict[str, str]]) -> int:
        self._release.wait(timeout=30)
        if self.add_delay:
            threading.Event().wait(self.add_delay)
        texts = [m["content"] for m in messages if m.get("role") == "user"]
        with self._lock:
            self.add_calls.append((user_id, len(messages)))
            self.memories.setdefault(user_id, []).extend(texts)
        return len(texts)

    def search(self, user_id: str, query: str, limit: int) -> list[str]:
        self._release.wait(timeout=30)
        if self.search_delay:
            threading.Event().wait(self.search_delay)
        words = set(query.lower().split())
        with self._lock:
            self.search_calls += 1
            found = [m for m in self.memories.get(user_id, []) if words & set(m.lower().split())]
        return found[:limit]

    def forget(self, user_id: str) -> None:
        with self._lock:
            self.memories.pop(user_id, None)
