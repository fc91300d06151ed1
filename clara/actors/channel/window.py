"""ConversationWindow: what the model sees of a channel, kept by the channel's actor.

The history window (read once, at the actor's start or its first reply, then kept up to date
here as exchanges happen), the rolling summary of what is older (folded by the low tier in
the background every few exchanges), and the time zone of each person (cached ten
minutes). From these and the memories about the people speaking it builds a reply's
messages: the system prompt, the history, and what was just said, with the message replied
to quoted and attachments read.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from ...adapters.chat import MessageReceived, read_attachments
from ...adapters.llm import ChatMessage, ChatRequest, Completion, ImagePart, TextPart
from ...store import (
    HistoryEntry,
    conversation_summary,
    message_text,
    recent_history,
    user_time_zone,
)
from .context import history_messages, recall_about, system_prompt
from .rules import without_mention
from .summary import fold_older_messages

if TYPE_CHECKING:
    from .actor import ChannelDependencies

__all__ = ["ConversationWindow"]

# The channel actor's logger: what a channel logs reads as one log, whichever part says it.
logger = logging.getLogger(f"{__package__}.actor")


class ConversationWindow:
    """A channel's history window, summary and people's time zones, and a reply's context.

    Args:
        dependencies: the channel's shared dependencies (store, memory, settings).
        platform: ``discord``, ``console``.
        channel_id: the channel.
        complete: asks the model (the summary is folded with it).
        spawn: runs a coroutine function beside the actor (``context.start_task``).
    """

    def __init__(
        self,
        dependencies: ChannelDependencies,
        platform: str,
        channel_id: str,
        complete: Callable[[ChatRequest], Awaitable[Completion]],
        spawn: Callable[..., Any],
    ) -> None:
        self.deps = dependencies
        self.platform = platform
        self.channel_id = channel_id
        self._complete = complete
        self._spawn = spawn
        self._history: deque[HistoryEntry] | None = None
        self._summary = ""
        self._zones: dict[str, tuple[str, float]] = {}
        self._since_summary_check = 0
        self._summarizing = False  # one summary at a time, or two would fold the same messages

    def load(self, history: list[HistoryEntry], summary: str) -> None:
        """The window and summary as read at the actor's start."""
        self._history = deque(history, maxlen=self.deps.history_window)
        self._summary = summary

    def record(self, messages: list[MessageReceived], reply: str) -> None:
        """An exchange happened: into the window; every few, the summary is folded again."""
        if self._history is not None:
            for message in messages:
                self._history.append(
                    HistoryEntry(
                        role="user",
                        name=message.author.name,
                        content=without_mention(message.content),
                    )
                )
            self._history.append(HistoryEntry(role="assistant", name="Clara", content=reply))
        if self.deps.database is None:
            return
        self._since_summary_check += 1
        due = self._since_summary_check >= max(1, self.deps.summarize_after // 4)
        if due and not self._summarizing:
            self._since_summary_check = 0
            self._summarizing = True
            try:
                self._spawn(self._summarize, name="summary")
            except RuntimeError:  # stopping (a deploy): the next start folds them in
                self._summarizing = False

    async def build(self, messages: list[MessageReceived], last_text: str) -> list[ChatMessage]:
        trigger = messages[-1]
        database = self.deps.database
        zone_name, history = await self._zone_and_history(trigger)
        memories = await self._memories(messages, last_text)
        continuity = await self._continuity(trigger)
        chat = [
            ChatMessage(
                role="system",
                content=system_prompt(
                    trigger.author.name, zone_name, self._summary, memories, continuity=continuity
                ),
            ),
            *history_messages(history),
        ]
        for message in messages:
            text = last_text if message is trigger else without_mention(message.content)
            text = f"{message.author.name}: {text}"
            if message.reply_to_id and database is not None:
                # Through the writer: behind the exchange stored a moment ago, which may
                # hold the very message replied to.
                quoted = await database.write(
                    message_text, self.platform, self.channel_id, message.reply_to_id
                )
                if quoted:
                    text = f"(replying to: {quoted[:500]})\n{text}"
            if not message.attachments:
                chat.append(ChatMessage(role="user", content=text))
                continue
            if self.deps.http is None and any(
                attachment.data is None for attachment in message.attachments
            ):
                logger.warning(
                    "channel %s: message %s has attachments to download, but no HTTP client "
                    "is configured (ChannelDependencies.http): they are skipped",
                    self.channel_id,
                    message.message_id,
                )
            read = await read_attachments(message.attachments, self.deps.http)
            body = "\n\n".join([text, *read.texts, *read.notes])
            parts: list[TextPart | ImagePart] = [TextPart(body)]
            parts += [ImagePart(media_type=media, data=data) for media, data in read.images]
            chat.append(ChatMessage(role="user", content=parts))
        return chat

    async def _zone_and_history(self, trigger: MessageReceived) -> tuple[str, list[HistoryEntry]]:
        """The person's time zone (cached ten minutes) and the history window (read once,
        then kept up to date here): whatever is missing comes in one read of the store."""
        now = trio.current_time()
        zone: str | None = "UTC"
        if self.deps.time_zone_of is not None:
            zone = self.deps.time_zone_of(trigger)
        elif self.deps.database is not None:
            cached = self._zones.get(trigger.author.id)
            zone = cached[0] if cached is not None and now - cached[1] < 600 else None
        database = self.deps.database
        need_history = self._history is None
        if database is not None and (zone is None or need_history):
            platform, channel_id, window = self.platform, self.channel_id, self.deps.history_window
            person = trigger.author.id

            def load(session: Any) -> tuple[str | None, list[HistoryEntry] | None, str]:
                return (
                    user_time_zone(session, platform, person) if zone is None else None,
                    recent_history(session, platform, channel_id, window) if need_history else None,
                    conversation_summary(session, platform, channel_id) if need_history else "",
                )

            read_zone, history, summary = await database.run(load)  # one thread hop
            if read_zone is not None:
                zone = read_zone
                if len(self._zones) > 500:
                    self._zones.clear()
                self._zones[person] = (zone, now)
            if history is not None and self._history is None:
                self._history = deque(history, maxlen=window)
                self._summary = summary
        if self._history is None:
            self._history = deque(maxlen=self.deps.history_window)
        return zone or "UTC", list(self._history)

    async def _continuity(self, trigger: MessageReceived) -> str:
        """The proactive engine's paragraph on the person (mood after a silence, recurring
        topics); '' without one, or when it fails (a reply never waits on it for long)."""
        continuity = self.deps.continuity
        if continuity is None:
            return ""
        with trio.move_on_after(5.0):
            try:
                return await continuity(trigger)
            except Exception:
                logger.exception("channel %s: the continuity paragraph failed", self.channel_id)
        return ""

    async def _memories(self, messages: list[MessageReceived], query: str) -> list[str]:
        if self.deps.memory is None:
            return []
        return await recall_about(self.deps.memory, self.platform, messages, query)

    async def _summarize(self) -> None:
        """Fold the messages older than the history window into the stored summary."""
        try:
            if self.deps.database is not None:
                summary = await fold_older_messages(
                    self.deps.database,
                    self.platform,
                    self.channel_id,
                    window=self.deps.history_window,
                    at_least=self.deps.summarize_after,
                    complete=self._complete,
                )
                self._summary = summary if summary is not None else self._summary
        finally:
            self._summarizing = False
