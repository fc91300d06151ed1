"""MemoryActor: the one owner of the memory store; batched writes, searches with a deadline."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import trio

from ...adapters.memory import MemoryStore
from .. import Actor, ActorRef, DeferredReply

__all__ = ["Flush", "Forget", "MemoryActor", "Recall", "Remember", "searcher"]

logger = logging.getLogger(__name__)


class Remember(msgspec.Struct, frozen=True, kw_only=True):
    """Tell: an exchange worth remembering. Written later, batched with the user's others."""

    user_id: str
    messages: list[dict[str, str]]


class Recall(msgspec.Struct, frozen=True, kw_only=True):
    """Ask: memories about ``user_id`` relevant to ``query`` (a list of texts, maybe empty)."""

    user_id: str
    query: str
    limit: int = 5


class Forget(msgspec.Struct, frozen=True, kw_only=True):
    """Ask: forget everything about ``user_id`` (pending writes included)."""

    user_id: str


class Flush(msgspec.Struct, frozen=True, kw_only=True):
    """Timer: the user's batching window ended."""

    user_id: str


def searcher(
    memory: ActorRef, user_id: str, limit: int = 5
) -> Callable[[str], Awaitable[list[str]]]:
    """A ``memory_search`` for the built-in tools, bound to the person being answered."""

    async def search(query: str) -> list[str]:
        found: list[str] = await memory.ask(
            Recall(user_id=user_id, query=query, limit=limit), timeout=None
        )
        return found

    return search


class MemoryActor(Actor):
    """Owns the one ``MemoryStore`` (embedded Qdrant allows one owner per folder).

    Writes never sit on a reply's path: a ``Remember`` is queued per user and written once
    the user's window (``batch_seconds``) ends, or when ``max_batch`` messages are waiting,
    in a worker thread. A ``Recall`` waits at most ``search_timeout``; past it the reply goes
    ahead without memories (the search is abandoned and counted in ``describe()``).

    Store calls run one at a time in a thread (mem0 and embedded Qdrant are not shared
    between threads), so a search can wait behind a write: that is what the deadline is for.
    A search that *fails* (its embedder unreachable, say) makes the next ``search_cooldown``
    seconds answer at once with nothing, rather than make every reply wait for the same error.
    """

    def __init__(
        self,
        open_store: Callable[[], MemoryStore],
        *,
        batch_seconds: float = 2.0,
        search_timeout: float = 2.0,
        search_cooldown: float = 30.0,
        max_batch: int = 50,
    ) -> None:
        self._open_store = open_store
        self.batch_seconds = batch_seconds
        self.search_timeout = search_timeout
        self.search_cooldown = search_cooldown
        self._search_down_until = -math.inf
        self.searches_skipped = 0
        self.max_batch = max_batch
        self.store: MemoryStore | None = None
        self._pending: dict[str, list[dict[str, str]]] = {}
        self._limiter = trio.CapacityLimiter(1)
        self.writes = 0
        self.messages_written = 0
        self.searches = 0
        self.search_timeouts = 0
        self.errors = 0

    async def _blocking(
        self, function: Callable[..., Any], *args: Any, abandon: bool = False
    ) -> Any:
        return await trio.to_thread.run_sync(
            function, *args, limiter=self._limiter, abandon_on_cancel=abandon
        )

    async def on_start(self) -> None:
        self.store = await self._blocking(self._open_store)

    async def on_stop(self) -> None:
        # What is still waiting for its window is written now, not lost.
        for user_id in list(self._pending):
            await self._write(user_id, self._pending.pop(user_id))

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Remember):
            waiting = self._pending.get(message.user_id)
            if waiting is None:
                waiting = self._pending[message.user_id] = []
                self.context.send_after(self.batch_seconds, Flush(user_id=message.user_id))
            waiting.extend(message.messages)
            if len(waiting) >= self.max_batch:
                self._flush(message.user_id)
            return None
        if isinstance(message, Flush):
            self._flush(message.user_id)
            return None
        if isinstance(message, Recall):
            reply = self.context.defer()
            self.context.start_task(self._recall, message, reply, name="recall")
            return None
        if isinstance(message, Forget):
            self._pending.pop(message.user_id, None)
            reply = self.context.defer()
            self.context.start_task(self._forget, message.user_id, reply, name="forget")
            return None
        raise TypeError(f"MemoryActor does not handle {type(message).__name__}")

    def _flush(self, user_id: str) -> None:
        batch = self._pending.pop(user_id, None)
        if batch:
            self.context.start_task(self._write, user_id, batch, name="write")

    async def _write(self, user_id: str, batch: list[dict[str, str]]) -> None:
        assert self.store is not None
        try:
            await self._blocking(self.store.add, user_id, batch)
        except Exception as error:  # a failed write is logged and counted, not fatal
            self.errors += 1
            logger.warning(
                "memory write for %s failed: %s: %s", user_id, type(error).__name__, error
            )
            return
        self.writes += 1
        self.messages_written += len(batch)

    async def _recall(self, message: Recall, reply: DeferredReply) -> None:
        assert self.store is not None
        if trio.current_time() < self._search_down_until:
            self.searches_skipped += 1
            reply.reply([])
            return
        self.searches += 1
        found: list[str] = []
        timeout = self.search_timeout if math.isfinite(self.search_timeout) else math.inf
        with trio.move_on_after(timeout) as scope:
            try:
                found = await self._blocking(
                    self.store.search, message.user_id, message.query, message.limit, abandon=True
                )
            except Exception as error:
                self.errors += 1
                self._search_down_until = trio.current_time() + self.search_cooldown
                logger.warning(
                    "memory search failed: %s: %s; searches skipped for %gs",
                    type(error).__name__,
                    error,
                    self.search_cooldown,
                )
        if scope.cancelled_caught:
            self.search_timeouts += 1
            logger.info("memory search passed its %.2gs deadline; replying without", timeout)
        reply.reply(found)

    async def _forget(self, user_id: str, reply: DeferredReply) -> None:
        assert self.store is not None
        try:
            await self._blocking(self.store.forget, user_id)
        except Exception as error:
            reply.fail(error)
        else:
            reply.reply(None)

    def describe(self) -> dict[str, Any] | None:
        return {
            "pending_users": len(self._pending),
            "pending_messages": sum(len(batch) for batch in self._pending.values()),
            "writes": self.writes,
            "messages_written": self.messages_written,
            "searches": self.searches,
            "search_timeouts": self.search_timeouts,
            "searches_skipped": self.searches_skipped,
            "errors": self.errors,
        }
