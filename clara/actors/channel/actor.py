"""ChannelActor: one per channel (per person in DMs). Every message addressed to Clara gets
exactly one reply, in order; a flood or a slow tool here never slows another channel.

The flow of one message (DESIGN.md, "The flow of one Discord message"):

    addressed to Clara? (reply mode, DM)  → allowed? (servers, channels, roles)
    → first time seen? (a unique row in the store: a re-delivery or a restart never replies twice)
    → a stop phrase? (the speaker's own reply and queue; an administrator's: all)
    → within the person's rate? (token bucket; over it, skipped, with one notice saying so)
    → a reply running? queue it (⏳ on it, one line of text per burst; active mode
      coalesces), or say busy
    → reply: context (history, summary, memories, the time where the person is), the model
      with tools (a progress line per call), chunks of 2,000 characters with nonces
    → afterwards: the exchange stored, memory told (in the background), proactive told.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import trio

from ...adapters.chat import (
    ChatTransport,
    MessageReceived,
    fit_files,
    nonce_for,
    read_attachments,
    split_message,
)
from ...adapters.llm import (
    ChatMessage,
    ChatRequest,
    Completion,
    ImagePart,
    TextPart,
    explain_unavailable,
)
from ...adapters.memory import memory_user_id
from ...config import DiscordSettings, LlmSettings
from ...errors import ClaraError, LlmError, NoProviderAvailable
from ...store import (
    ChannelConfig,
    Database,
    GuildConfig,
    HistoryEntry,
    channel_config,
    conversation_summary,
    guild_config,
    mark_processed,
    message_text,
    recent_history,
    record_exchange,
    user_time_zone,
)
from ...tools import ToolProgress, ToolRegistry, run_tool_loop
from .. import Actor, ActorRef, DeferredReply
from ..llm import Complete
from ..memory import Remember
from ..policy import UserRates, is_admin
from .context import history_messages, recall_about, system_prompt
from .messages import Converse, ReplyDone, SettingsChanged, UserActive, parse_tier
from .rules import addressed, allowed, is_stop, plan_stop, without_mention
from .summary import fold_older_messages
from .tiers import choose_tier, default_tier

__all__ = ["ChannelActor", "ChannelDependencies"]

logger = logging.getLogger(__name__)

#: The reaction a queued message gets (:hourglass_flowing_sand: on Discord).
QUEUED = "\N{HOURGLASS WITH FLOWING SAND}"


@dataclass
class ChannelDependencies:
    """What every channel actor is built with (shared; no per-channel copies)."""

    transport: ChatTransport
    llm: ActorRef
    discord: DiscordSettings
    llm_settings: LlmSettings
    database: Database | None = None
    memory: ActorRef | None = None
    proactive: ActorRef | None = None
    """Told ``UserActive`` after each exchange (the proactive engine, when there is one)."""
    tools_for: Callable[[MessageReceived], ToolRegistry] | None = None
    tool_timeout: float = 30.0
    """Seconds one tool call may take within a reply."""
    time_zone_of: Callable[[MessageReceived], str] | None = None
    """Overrides the time zone stored for each person (tests, a fixed deployment)."""
    summarize_after: int = 40
    """Messages beyond the history window that make the model fold them into the summary."""
    history_window: int = 20
    """Recent messages a reply sees word for word (older ones reach it through the summary)."""
    notice_interval: float = 30.0
    """Seconds between two notices of one kind in a channel (busy, rate limited)."""
    reply_timeout: float = 180.0
    """Seconds a whole reply (model calls and tool rounds) may take before it is given up."""
    http: httpx.AsyncClient | None = None
    """The one HTTP client every channel shares (attachments); its owner closes it once.
    None: attachments that must be downloaded are skipped (a note tells the model, a warning
    the log); attachments that carry their data are read all the same."""


class ChannelActor(Actor):
    """The conversation in one channel (or one person's DMs).

    Args:
        platform: ``discord``, ``console``.
        channel_id: the channel (the person's id for DMs).
        dependencies: the shared dependencies.
    """

    def __init__(self, platform: str, channel_id: str, dependencies: ChannelDependencies) -> None:
        self.platform = platform
        self.channel_id = channel_id
        self.deps = dependencies
        self.pending: deque[tuple[MessageReceived, DeferredReply | None]] = deque()
        self.running: trio.CancelScope | None = None
        # What the running reply answers: whose it is decides who may stop it.
        self.running_batch: list[tuple[MessageReceived, DeferredReply | None]] = []
        self._burst_noticed = False  # the one "I'll answer in turn" line of this burst is out
        self.generation = 0
        self.rates = UserRates()
        self.noticed: dict[str, float] = {}
        self.config = ChannelConfig()
        self.guild = GuildConfig()
        self._guild_id: str | None = None
        # What the context needs, kept here: the store is read once, then written through.
        self._history: deque[HistoryEntry] | None = None
        self._summary = ""
        self._zones: dict[str, tuple[str, float]] = {}
        self._since_summary_check = 0
        self._summarizing = False  # one summary at a time, or two would fold the same messages
        self.replies = 0
        self.ignored = 0
        self.duplicates = 0
        self.rate_limited = 0
        self.busy = 0

    # -- life ---------------------------------------------------------------------------------

    async def on_start(self) -> None:
        await self._load_settings()

    async def _load_settings(self) -> None:
        database = self.deps.database
        if database is None:
            return
        platform, channel_id, guild_id = self.platform, self.channel_id, self._guild_id

        def load(session: Any) -> tuple[ChannelConfig, GuildConfig]:
            return (
                channel_config(session, platform, channel_id),
                guild_config(session, platform, guild_id),
            )

        # One unit of work (one thread hop) for both.
        self.config, self.guild = await database.run(load)

    def describe(self) -> dict[str, Any] | None:
        return {
            "replying": self.running is not None,
            "queued": len(self.pending),
            "replies": self.replies,
            "ignored": self.ignored,
            "duplicates": self.duplicates,
            "rate_limited": self.rate_limited,
            "busy": self.busy,
            "mode": self.config.reply_mode,
        }

    # -- messages -----------------------------------------------------------------------------

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Converse):
            reply = self.context.defer()
            await self._incoming(message.message, reply)
            return None
        if isinstance(message, MessageReceived):
            await self._incoming(message, None)
            return None
        if isinstance(message, ReplyDone):
            if message.generation == self.generation:
                self.running = None
                self.running_batch = []
                self._next()
                if self.running is None:  # nothing waits: the burst is over
                    self._burst_noticed = False
            return None
        if isinstance(message, SettingsChanged):
            await self._load_settings()
            return None
        raise TypeError(f"ChannelActor does not handle {type(message).__name__}")

    async def _incoming(self, message: MessageReceived, reply: DeferredReply | None) -> None:
        if message.guild_id is not None and message.guild_id != self._guild_id:
            self._guild_id = message.guild_id
            await self._load_settings()
        if not addressed(message, self.config) or not allowed(
            message, self.deps.discord, self.guild, self.config
        ):
            self.ignored += 1
            if reply is not None:
                reply.reply(None)
            return
        database = self.deps.database
        if database is not None and not await database.run(
            mark_processed, message.platform, message.message_id
        ):
            self.duplicates += 1
            logger.debug("channel %s: message %s seen before", self.channel_id, message.message_id)
            if reply is not None:
                reply.reply(None)
            return
        text = without_mention(message.content)
        if is_stop(text, self.deps.discord.stop_phrases):
            await self._stop(message)
            if reply is not None:
                reply.reply("Stopped.")
            return
        if not self._within_rate(message):
            self.rate_limited += 1
            if reply is not None:
                reply.reply(None)
            return
        if self.running is not None:
            await self._enqueue(message, reply)
            return
        self._start([(message, reply)])

    def _within_rate(self, message: MessageReceived) -> bool:
        verdict = self.rates.take(
            message.author.id,
            trio.current_time(),
            per_minute=self.deps.discord.user_rate_per_minute,
            notice_interval=self.deps.notice_interval,
        )
        if verdict == "notice":
            # Honest: what is over the rate is skipped, not kept for later, and the notice
            # says so and says when the person may write again (issue 12, item 6).
            per_minute = self.deps.discord.user_rate_per_minute
            wait = self.rates.seconds_until_next(
                message.author.id, trio.current_time(), per_minute=per_minute
            )
            self.context.start_task(
                self._say,
                message,
                f"{message.author.name}, you're writing faster than I can answer (more than "
                f"{per_minute} messages a minute), so I'm skipping what you send for about "
                f"{max(1, math.ceil(wait))} seconds; send it again after that.",
                "rate",
                name="notice",
            )
        return verdict == "ok"

    async def _enqueue(self, message: MessageReceived, reply: DeferredReply | None) -> None:
        if len(self.pending) >= self.deps.discord.channel_mailbox:
            self.busy += 1
            if reply is not None:
                reply.reply(None)
            if self._may_notice("busy"):
                await self._say(
                    message,
                    "I'm busy with a backlog here; please try again in a little while.",
                    "busy",
                )
            return
        self.pending.append((message, reply))
        # Feedback without spam: ⏳ on each queued message, one line of text per burst.
        self.context.start_task(self._react, message, QUEUED, name="queued")
        if not self._burst_noticed and self.config.reply_mode == "mention" and not message.is_dm:
            self._burst_noticed = True
            self.context.start_task(
                self._say,
                message,
                f"I'm in the middle of a reply; I'll answer what's marked {QUEUED} in turn.",
                "queued",
                name="notice",
            )

    async def _react(self, message: MessageReceived, emoji: str) -> None:
        try:
            await self.deps.transport.react(self.channel_id, message.message_id, emoji)
        except ClaraError as error:
            logger.info("channel %s: could not react: %s", self.channel_id, error)

    def _may_notice(self, kind: str) -> bool:
        now = trio.current_time()
        if now - self.noticed.get(kind, -1e9) < self.deps.notice_interval:
            return False
        self.noticed[kind] = now
        return True

    async def _stop(self, message: MessageReceived) -> None:
        """A stop phrase stops what is the speaker's (``plan_stop``): an administrator's stops
        everything here. Each other person whose reply or queued message was stopped is told
        once."""
        speaker = message.author
        plan = plan_stop(
            speaker,
            is_admin(speaker, self.deps.discord),
            self.running_batch if self.running is not None else None,
            self.pending,
        )
        if plan.cancel_running and self.running is not None:
            self.running.cancel()
        for _, waiting in plan.ended:
            if waiting is not None:
                waiting.reply("Stopped.")
        self.pending = plan.kept
        stopped = plan.stopped
        if speaker.id in stopped or not stopped:
            await self._say(
                message, "Stopped." if stopped else "There was nothing of yours to stop.", "stop"
            )
        else:
            await self._say(message, "Stopped everything here.", "stop")
        for person, theirs in stopped.items():
            if person != speaker.id:
                await self._say(
                    theirs,
                    f"{theirs.author.name}, {speaker.name} stopped my replies here, so I won't "
                    "answer this; ask again if you still want it.",
                    "stopped",
                )

    def _next(self) -> None:
        if not self.pending:
            return
        if self.config.reply_mode == "active":
            batch = list(self.pending)  # coalesced into one turn
            self.pending.clear()
        else:
            batch = [self.pending.popleft()]
        self._start(batch)

    def _start(self, batch: list[tuple[MessageReceived, DeferredReply | None]]) -> None:
        self.running_batch = batch
        self.generation += 1
        scope = trio.CancelScope()
        self.running = scope
        self.context.start_task(self._reply, batch, scope, self.generation, name="reply")

    # -- replying -----------------------------------------------------------------------------

    async def _reply(
        self,
        batch: list[tuple[MessageReceived, DeferredReply | None]],
        scope: trio.CancelScope,
        generation: int,
    ) -> None:
        messages = [message for message, _ in batch]
        trigger = messages[-1]
        text = ""
        try:
            with scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._keep_typing)
                    files: list[tuple[str, bytes]] = []
                    with trio.move_on_after(self.deps.reply_timeout) as timer:
                        text, files = await self._compose(messages)
                    if timer.cancelled_caught:
                        text = "That took too long, so I stopped. Could you try again?"
                    sent_ids = await self._send(trigger, text, files)
                    nursery.cancel_scope.cancel()
                self.replies += 1
                await self._after(messages, text, sent_ids[0] if sent_ids else None)
        finally:
            for _, waiting in batch:
                if waiting is not None and not waiting.done:
                    waiting.reply(text if not scope.cancelled_caught else "Stopped.")
            self.context.tell_self(ReplyDone(generation=generation))

    async def _keep_typing(self) -> None:
        while True:
            try:
                await self.deps.transport.typing(self.channel_id)
            except ClaraError as error:
                logger.debug("typing indicator failed: %s", error)
            await trio.sleep(8)

    async def _compose(
        self, messages: list[MessageReceived]
    ) -> tuple[str, list[tuple[str, bytes]]]:
        trigger = messages[-1]
        tier, first_text = parse_tier(without_mention(trigger.content))
        if tier is None:
            tier = default_tier(
                self.config.default_tier,
                self.guild.default_tier,
                fallback=self.deps.llm_settings.default_tier,
            )
            if self._auto_tier():
                tier = await choose_tier(self._complete, first_text, tier)
        request = ChatRequest(
            messages=await self._build_context(messages, first_text), tier=tier, max_tokens=1500
        )
        registry = self.deps.tools_for(trigger) if self.deps.tools_for else ToolRegistry()

        async def progress(event: ToolProgress) -> None:
            if event.status == "started":
                await self._say(trigger, f"-# using {event.tool}…", "progress", reply=False)

        try:
            result = await run_tool_loop(
                self._complete,
                request,
                registry,
                on_progress=progress,
                tool_timeout=self.deps.tool_timeout,
            )
        except NoProviderAvailable as error:
            return explain_unavailable(error, self.deps.llm_settings), []
        except LlmError as error:
            logger.warning("channel %s: the model failed: %s", self.channel_id, error)
            return "Something went wrong while I was thinking; please try again.", []
        files, left_out = fit_files((f.name, f.data) for f in result.files)
        text = result.completion.text or "(I have nothing to add.)"
        if left_out:
            text += "\n\n" + "\n".join(f"({note})" for note in left_out)
        return text, files

    def _auto_tier(self) -> bool:
        """Whether a low-tier call chooses the tier: the server's setting, else Clara's."""
        chosen = self.guild.auto_tier
        return self.deps.llm_settings.auto_tier if chosen is None else chosen

    async def _complete(self, request: ChatRequest) -> Completion:
        completion: Completion = await self.deps.llm.ask(
            Complete(request=request, timeout=self.deps.llm_settings.timeout * 2), timeout=None
        )
        return completion

    async def _build_context(
        self, messages: list[MessageReceived], last_text: str
    ) -> list[ChatMessage]:
        trigger = messages[-1]
        database = self.deps.database
        zone_name = await self._time_zone(trigger)
        history = await self._recent()
        memories = await self._memories(messages, last_text)
        chat = [
            ChatMessage(
                role="system",
                content=system_prompt(trigger.author.name, zone_name, self._summary, memories),
            ),
            *history_messages(history),
        ]
        for message in messages:
            text = last_text if message is trigger else without_mention(message.content)
            text = f"{message.author.name}: {text}"
            if message.reply_to_id and database is not None:
                quoted = await database.run(
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

    async def _time_zone(self, trigger: MessageReceived) -> str:
        """The person's time zone: from the store, cached for ten minutes."""
        if self.deps.time_zone_of is not None:
            return self.deps.time_zone_of(trigger)
        database = self.deps.database
        if database is None:
            return "UTC"
        now = trio.current_time()
        cached = self._zones.get(trigger.author.id)
        if cached is not None and now - cached[1] < 600:
            return cached[0]
        zone = await database.run(user_time_zone, self.platform, trigger.author.id)
        if len(self._zones) > 500:
            self._zones.clear()
        self._zones[trigger.author.id] = (zone, now)
        return zone

    async def _recent(self) -> list[HistoryEntry]:
        """The history window: read from the store once, then kept up to date here."""
        if self._history is None:
            window = self.deps.history_window
            self._history = deque(maxlen=window)
            database = self.deps.database
            if database is not None:
                platform, channel_id = self.platform, self.channel_id

                def load(session: Any) -> tuple[list[HistoryEntry], str]:
                    return (
                        recent_history(session, platform, channel_id, window),
                        conversation_summary(session, platform, channel_id),
                    )

                history, self._summary = await database.run(load)  # one thread hop
                self._history.extend(history)
        return list(self._history)

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

    async def _send(
        self, trigger: MessageReceived, text: str, files: list[tuple[str, bytes]] | None = None
    ) -> list[str]:
        """Post the reply in chunks; files the tools made go with the last one."""
        sent = []
        chunks = split_message(text) or [""]
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            sent.append(
                await self.deps.transport.send(
                    self.channel_id,
                    chunk,
                    reply_to=trigger.message_id if index == 0 else None,
                    nonce=nonce_for(trigger.message_id, index),
                    files=(files or []) if last else (),
                )
            )
        return sent

    async def _say(
        self, message: MessageReceived, text: str, kind: str, *, reply: bool = True
    ) -> None:
        try:
            await self.deps.transport.send(
                self.channel_id,
                text,
                reply_to=message.message_id if reply else None,
                nonce=nonce_for(message.message_id, hash(kind) % 1000 + 1000),
            )
        except ClaraError as error:
            logger.info("channel %s: could not send a %s notice: %s", self.channel_id, kind, error)

    async def _after(
        self, messages: list[MessageReceived], reply: str, reply_id: str | None = None
    ) -> None:
        trigger = messages[-1]
        database = self.deps.database
        if database is not None:
            turns: list[tuple[str, str, str, str | None]] = [
                (m.author.id, m.author.name, without_mention(m.content), m.message_id)
                for m in messages
            ]
            await database.run(
                lambda session: record_exchange(
                    session,
                    platform=self.platform,
                    channel_id=self.channel_id,
                    guild_id=trigger.guild_id,
                    is_dm=trigger.is_dm,
                    turns=turns,
                    reply=reply,
                    reply_message_id=reply_id,
                )
            )
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
        if database is not None:
            self._since_summary_check += 1
            due = self._since_summary_check >= max(1, self.deps.summarize_after // 4)
            if due and not self._summarizing:
                self._since_summary_check = 0
                self._summarizing = True
                self.context.start_task(self._summarize, name="summary")
        if self.deps.memory is not None:
            for message in messages:
                await self.deps.memory.tell(
                    Remember(
                        user_id=memory_user_id(self.platform, message.author.id),
                        messages=[
                            {"role": "user", "content": without_mention(message.content)},
                            {"role": "assistant", "content": reply},
                        ],
                    )
                )
        if self.deps.proactive is not None:
            await self.deps.proactive.tell(
                UserActive(
                    user_id=memory_user_id(self.platform, trigger.author.id),
                    channel_id=self.channel_id,
                    at=trio.current_time(),
                )
            )
