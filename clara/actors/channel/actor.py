"""ChannelActor: one per channel (per person in DMs). Every message addressed to Clara gets
exactly one reply, in order; a flood or a slow tool here never slows another channel.

The flow of one message (DESIGN.md, "The flow of one Discord message"):

    addressed to Clara? (reply mode, DM)  → allowed? (servers, channels, roles)
    → in hand already? (a re-delivery of a message queued or being answered here)
    → a stop phrase? (the speaker's own reply and queue; an administrator's: all)
    → within the person's rate? (token bucket; over it, skipped, with one notice saying so)
    → claimed in the durable inbox (started now, waited for before the first piece is posted:
      a message the store holds as finished is not answered twice)
    → a reply running? queue it (⏳ on it, one line of text per burst; active mode
      coalesces), or say busy
    → reply: context (history, summary, memories, the time where the person is), the model
      with tools (a progress line per call), chunks of 2,000 characters with nonces
    → afterwards: the exchange stored and the messages marked answered (one unit of work),
      memory told (in the background), proactive told.

What the model sees (the history window, the summary, time zones, a reply's context) is
``ConversationWindow`` (``window.py``); what the channel posts (pieces with nonces, notices,
⏳ reactions, typing) is ``ChannelOutbox`` (``outbox.py``); the durable inbox's reads and
writes are ``ChannelInbox`` (``inbox.py``); the channel's rules are pure functions
(``rules.py``).

What the inbox holds unfinished when the actor starts (after a crash, a deploy, a restart)
is answered first, in the order it arrived; what is older than ``CLARA_RESUME_WINDOW`` gets
a short note instead. A graceful stop (``on_drain``) lets the running reply finish; what is
queued stays in the inbox for the next start.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio

from ...adapters.chat import (
    ChatTransport,
    MessageReceived,
    fit_files,
)
from ...adapters.llm import (
    ChatRequest,
    Completion,
    explain_unavailable,
)
from ...adapters.memory import memory_user_id
from ...config import DiscordSettings, LlmSettings
from ...errors import LlmError, NoProviderAvailable, StoreUnavailable
from ...store import (
    ChannelConfig,
    Database,
    Exchange,
    GuildConfig,
    HistoryEntry,
    Turn,
    channel_config,
    conversation_summary,
    guild_config,
    recent_history,
    recently_finished,
)
from ...tools import ToolProgress, ToolRegistry, run_tool_loop
from .. import Actor, ActorRef, DeferredReply
from ..llm import Complete
from ..memory import Remember
from ..policy import UserRates, is_admin
from .guilds import GuildSettingsCache
from .inbox import MAX_ATTEMPTS, ChannelInbox, Claim, Draft, Resumed
from .messages import Converse, ReplyDone, SettingsChanged, parse_tier
from .outbox import QUEUED, ChannelOutbox
from .rules import addressed, allowed, is_stop, plan_stop, without_mention
from .tiers import choose_tier, default_tier
from .window import ConversationWindow

__all__ = ["ChannelActor", "ChannelDependencies"]

logger = logging.getLogger(__name__)

#: Finished messages a channel keeps the ids of, to know a re-delivered one at once.
RECENT_ANSWERS = 500
#: Seconds before a channel that could not read the store at start tries again; doubled
#: after each failure, up to ``STORE_RETRY_MAX``.
STORE_RETRY_FIRST = 1.0
STORE_RETRY_MAX = 30.0


@dataclass
class _StoreBack:
    """The start read succeeded after an outage (sent by the channel's retry task)."""

    unfinished: list[Resumed]
    loaded: Any


@dataclass
class ChannelDependencies:
    """What every channel actor is built with (shared; no per-channel copies)."""

    transport: ChatTransport
    llm: ActorRef
    discord: DiscordSettings
    llm_settings: LlmSettings
    database: Database | None = None
    memory: ActorRef | None = None
    continuity: Callable[[MessageReceived], Awaitable[str]] | None = None
    """A paragraph for a reply's system prompt: how the person's last conversation went after
    a long silence, topics they keep coming back to (the proactive engine's ``Continuity``)."""
    activity: Callable[[MessageReceived], None] | None = None
    """Handed every message a person writes here, addressed to Clara or not (the proactive
    engine's ``offer``). Must never block nor raise; a failure is logged and ignored."""
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
    resume_window: float = 600.0
    """Seconds an unfinished message stays worth answering when the channel starts again."""
    resume_note: bool = True
    """Whether an older unfinished message gets one short note (else it is closed silently)."""
    resume: bool = True
    """Whether a starting channel answers what the inbox holds unfinished (off for a one-shot
    ``run.py --once``, whose output is the one answer asked for)."""
    guilds: GuildSettingsCache = field(default_factory=GuildSettingsCache)
    """Server settings, shared by the channels (one read a minute per server at most)."""


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
        # What this channel posts: pieces, notices, ⏳ reactions, the typing indicator.
        self.outbox = ChannelOutbox(
            dependencies.transport, channel_id, lambda: self.inbox, self._spawn
        )
        # What the model sees of this channel (history window, summary, time zones).
        self.window = ConversationWindow(
            dependencies, platform, channel_id, self._complete, self._spawn
        )
        self.inbox = ChannelInbox(None, platform, channel_id, lambda *a, **k: None)
        self._claims: dict[str, Claim] = {}  # of the messages in hand (queued or answered now)
        self._finished: dict[str, None] = {}  # ids finished lately, oldest first (bounded)
        self._resumed: dict[str, Resumed] = {}  # unfinished at start: how far their reply got
        self._reply_over: trio.Event | None = None  # set when the running reply task ends
        # While the store cannot be read at start, messages wait here (bounded, in order).
        self._store_waiting = False
        self._held: list[tuple[MessageReceived, DeferredReply | None]] = []
        self.replies = 0
        self.ignored = 0
        self.duplicates = 0
        self.rate_limited = 0
        self.busy = 0
        self.resumed = 0
        self.expired = 0

    # -- life ---------------------------------------------------------------------------------

    async def on_start(self) -> None:
        self.inbox = ChannelInbox(
            self.deps.database, self.platform, self.channel_id, self.context.start_task
        )
        if not self.deps.resume:
            await self._load_settings()
            return
        await self._resume()

    async def on_drain(self) -> None:
        """A graceful stop (a deploy): the running reply may finish; the queue stays in the
        inbox for the next start."""
        over = self._reply_over
        if self.running is not None and over is not None:
            await over.wait()

    async def _resume(self) -> None:
        """Answer what the inbox holds unfinished for this channel, in its original order
        (read with the channel's settings, in one unit of work). A store that cannot be
        read leaves the channel waiting for it (``_wait_for_store``), not crashing."""
        try:
            unfinished, loaded = await self._read_start()
        except StoreUnavailable as error:
            self._wait_for_store(error)
            return
        await self._started(unfinished, loaded)

    async def _read_start(self) -> tuple[list[Resumed], Any]:
        platform, channel_id, window = self.platform, self.channel_id, self.deps.history_window

        def settings_and_history(
            session: Any,
        ) -> tuple[ChannelConfig, list[HistoryEntry], str, list[str]]:
            return (
                channel_config(session, platform, channel_id),
                recent_history(session, platform, channel_id, window),
                conversation_summary(session, platform, channel_id),
                recently_finished(session, platform, channel_id, RECENT_ANSWERS),
            )

        # One read for a start: what is unfinished, the settings, the history window, and
        # the messages finished lately (a replay of one is known without asking the store).
        return await self.inbox.unfinished(settings_and_history)

    def _wait_for_store(self, error: StoreUnavailable) -> None:
        """The store cannot be read at start: without this channel's settings and history
        nothing can be answered rightly, so messages are held (in order, bounded) and the
        read is tried again with a growing pause until the store answers."""
        self._store_waiting = True
        logger.warning(
            "channel %s: waiting for the store before answering (%s)", self.channel_id, error
        )
        self.context.start_task(self._retry_start, name="store-wait")

    async def _retry_start(self) -> None:
        pause = STORE_RETRY_FIRST
        while True:
            await trio.sleep(pause)
            try:
                read = await self._read_start()
            except StoreUnavailable:
                pause = min(pause * 2, STORE_RETRY_MAX)
                continue
            self.context.tell_self(_StoreBack(*read))
            return

    async def _store_back(self, back: _StoreBack) -> None:
        """The store answered: start as usual, then take the held messages in order."""
        logger.info(
            "channel %s: the store answers; taking %d held message(s)",
            self.channel_id,
            len(self._held),
        )
        self._store_waiting = False
        await self._started(back.unfinished, back.loaded)
        held, self._held = self._held, []
        for message, reply in held:
            await self._incoming(message, reply)

    async def _started(self, unfinished: list[Resumed], loaded: Any) -> None:
        if loaded is not None:
            self.config, history, summary, finished = loaded
            self.window.load(history, summary)
            for message_id in reversed(finished):
                self._remember_finished(message_id)
        for resumed in unfinished:
            message = resumed.message
            if resumed.attempts >= MAX_ATTEMPTS:
                logger.warning(
                    "channel %s: giving up on message %s after %d failed attempts",
                    self.channel_id,
                    message.message_id,
                    resumed.attempts,
                )
                self.inbox.finish([message.message_id], "failed")
                await self.outbox.notice(
                    message,
                    "Sorry, something kept going wrong while I answered this, so I've given up "
                    "on it; could you ask again, perhaps differently?",
                    "failed",
                )
                continue
            if resumed.age > self.deps.resume_window:
                self.expired += 1
                self.inbox.finish([message.message_id], "expired")
                if self.deps.resume_note:
                    await self.outbox.notice(
                        message,
                        "Sorry, I restarted and this message waited too long for me; "
                        "could you ask again?",
                        "expired",
                    )
                continue
            if message.guild_id is not None:
                await self._server_settings(message.guild_id)
            self.resumed += 1
            self._resumed[message.message_id] = resumed
            self._claims[message.message_id] = Claim(message.message_id)
            self.pending.append((message, None))
        if self.pending and self.running is None:
            logger.info(
                "channel %s: resuming %d unanswered message(s)", self.channel_id, len(self.pending)
            )
            self._next()

    async def _load_settings(self) -> None:
        """Read this channel's settings and its server's again (they changed)."""
        database = self.deps.database
        if database is None:
            return
        if self._guild_id is not None:
            self.deps.guilds.forget(self.platform, self._guild_id)
        platform, channel_id, guild_id = self.platform, self.channel_id, self._guild_id

        def load(session: Any) -> tuple[ChannelConfig, GuildConfig]:
            return (
                channel_config(session, platform, channel_id),
                guild_config(session, platform, guild_id),
            )

        # One unit of work (one thread hop) for both.
        try:
            self.config, self.guild = await database.run(load)
        except StoreUnavailable as error:  # keep what was read before, until it answers
            logger.warning("channel %s: settings not reloaded: %s", self.channel_id, error)
            return
        if guild_id is not None:
            self.deps.guilds.put(platform, guild_id, self.guild, trio.current_time())

    async def _server_settings(self, guild_id: str) -> None:
        """This server's settings: from the shared cache, read when missing or old."""
        self._guild_id = guild_id
        now = trio.current_time()
        cached = self.deps.guilds.get(self.platform, guild_id, now)
        if cached is not None:
            self.guild = cached
            return
        database = self.deps.database
        if database is None:
            return
        try:
            self.guild = await database.run(guild_config, self.platform, guild_id)
        except StoreUnavailable as error:  # keep what was read before, until it answers
            logger.warning("channel %s: server settings not read: %s", self.channel_id, error)
            return
        self.deps.guilds.put(self.platform, guild_id, self.guild, now)

    def describe(self) -> dict[str, Any] | None:
        return {
            "replying": self.running is not None,
            "queued": len(self.pending),
            "replies": self.replies,
            "ignored": self.ignored,
            "duplicates": self.duplicates,
            "rate_limited": self.rate_limited,
            "busy": self.busy,
            "resumed": self.resumed,
            "expired": self.expired,
            "mode": self.config.reply_mode,
            "waiting_for_store": self._store_waiting,
            "held": len(self._held),
        }

    # -- messages -----------------------------------------------------------------------------

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, MessageReceived):
            self._offer_activity(message)
        elif isinstance(message, Converse):
            self._offer_activity(message.message)
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
        if isinstance(message, _StoreBack):
            await self._store_back(message)
            return None
        raise TypeError(f"ChannelActor does not handle {type(message).__name__}")

    def _offer_activity(self, message: MessageReceived) -> None:
        """Every message a person writes goes to the proactive engine; nothing it does can
        stall or crash this channel."""
        if self.deps.activity is None:
            return
        try:
            self.deps.activity(message)
        except Exception:
            logger.exception("channel %s: the activity hand-off failed", self.channel_id)

    async def _incoming(self, message: MessageReceived, reply: DeferredReply | None) -> None:
        if self._store_waiting:
            await self._hold(message, reply)
            return
        if message.guild_id is not None:
            await self._server_settings(message.guild_id)
        if not addressed(message, self.config) or not allowed(
            message, self.deps.discord, self.guild, self.config
        ):
            self.ignored += 1
            if reply is not None:
                reply.reply(None)
            return
        if self._in_hand(message.message_id):
            self.duplicates += 1
            logger.debug("channel %s: message %s is in hand", self.channel_id, message.message_id)
            if reply is not None:
                reply.reply(None)
            return
        text = without_mention(message.content)
        if is_stop(text, self.deps.discord.stop_phrases):
            if not await self._first_time(message, "answered"):
                if reply is not None:
                    reply.reply(None)
                return
            await self._stop(message)
            if reply is not None:
                reply.reply("Stopped.")
            return
        if not self._within_rate(message):
            self.rate_limited += 1
            # Not recorded: a flood would cost a write a message and slow every channel's
            # writes; and a re-delivered skipped message is not a second answer if taken.
            if reply is not None:
                reply.reply(None)
            return
        if self.running is not None:
            await self._enqueue(message, reply)
            return
        self._claims[message.message_id] = self.inbox.claim(message, replying=True)
        self._start([(message, reply)])

    async def _hold(self, message: MessageReceived, reply: DeferredReply | None) -> None:
        """Keep ``message`` until the store answers (``_store_back``); a full hold is
        answered as a full queue is."""
        if len(self._held) < self.deps.discord.channel_mailbox:
            self._held.append((message, reply))
            return
        self.busy += 1
        if reply is not None:
            reply.reply(None)
        if self._may_notice("busy"):
            await self.outbox.notice(
                message,
                "I can't reach my memory right now and have a backlog here; please try again "
                "in a little while.",
                "busy",
            )

    def _in_hand(self, message_id: str) -> bool:
        """Whether ``message_id`` is queued here, being answered, or answered lately (a
        re-delivery of it)."""
        return message_id in self._claims or message_id in self._finished

    def _remember_finished(self, message_id: str) -> None:
        self._finished[message_id] = None
        if len(self._finished) > RECENT_ANSWERS:
            del self._finished[next(iter(self._finished))]

    async def _first_time(self, message: MessageReceived, state: str) -> bool:
        """Record ``message`` as finished in ``state`` and say whether it was new (waited for:
        a stop phrase delivered twice must not stop twice)."""
        claim = self.inbox.claim(message)
        if not await claim.is_new():
            self.duplicates += 1
            return False
        self.inbox.finish([message.message_id], state)
        self._remember_finished(message.message_id)
        return True

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
                self.outbox.notice,
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
            # Not recorded either (as for messages over the rate): the person is told to send
            # it again, and a flood must not turn into a write a message.
            if reply is not None:
                reply.reply(None)
            if self._may_notice("busy"):
                await self.outbox.notice(
                    message,
                    "I'm busy with a backlog here; please try again in a little while.",
                    "busy",
                )
            return
        self._claims[message.message_id] = self.inbox.claim(message)
        self.pending.append((message, reply))
        # Feedback without spam: ⏳ on each queued message, one line of text per burst.
        self.outbox.mark_queued(message.message_id)
        if not self._burst_noticed and self.config.reply_mode == "mention" and not message.is_dm:
            self._burst_noticed = True
            self.context.start_task(
                self.outbox.notice,
                message,
                f"I'm in the middle of a reply; I'll answer what's marked {QUEUED} in turn.",
                "queued",
                name="notice",
            )

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
        for ended, waiting in plan.ended:
            if waiting is not None:
                waiting.reply("Stopped.")
            self._forget(ended.message_id)
        self.inbox.finish([ended.message_id for ended, _ in plan.ended], "stopped")
        self.pending = plan.kept
        stopped = plan.stopped
        if speaker.id in stopped or not stopped:
            await self.outbox.notice(
                message, "Stopped." if stopped else "There was nothing of yours to stop.", "stop"
            )
        else:
            await self.outbox.notice(message, "Stopped everything here.", "stop")
        for person, theirs in stopped.items():
            if person != speaker.id:
                await self.outbox.notice(
                    theirs,
                    f"{theirs.author.name}, {speaker.name} stopped my replies here, so I won't "
                    "answer this; ask again if you still want it.",
                    "stopped",
                )

    def _claimed_replying(self, message: MessageReceived) -> bool:
        claim = self._claims.get(message.message_id)
        return claim is not None and claim.replying

    def _forget(self, message_id: str) -> None:
        self._claims.pop(message_id, None)
        self._resumed.pop(message_id, None)

    def _next(self) -> None:
        if not self.pending:
            return
        first = self.pending[0][0].message_id
        resumed = self._resumed.get(first)
        if resumed is not None and resumed.draft is not None:
            # A reply made before a restart: it answers what it covered, nothing more.
            covers = set(resumed.draft.covers) | {first}
            batch = [entry for entry in self.pending if entry[0].message_id in covers]
            self.pending = deque(e for e in self.pending if e[0].message_id not in covers)
        elif self.config.reply_mode == "active":
            batch = [e for e in self.pending if self._draft_of(e[0]) is None]  # one turn
            self.pending = deque(e for e in self.pending if self._draft_of(e[0]) is not None)
        else:
            batch = [self.pending.popleft()]
        self._start(batch)

    def _draft_of(self, message: MessageReceived) -> Draft | None:
        resumed = self._resumed.get(message.message_id)
        return resumed.draft if resumed is not None else None

    def _start(self, batch: list[tuple[MessageReceived, DeferredReply | None]]) -> None:
        self.running_batch = batch
        self.generation += 1
        scope = trio.CancelScope()
        self.running = scope
        self._reply_over = trio.Event()
        self.context.start_task(
            self._reply, batch, scope, self.generation, self._reply_over, name="reply"
        )

    # -- replying -----------------------------------------------------------------------------

    async def _reply(
        self,
        batch: list[tuple[MessageReceived, DeferredReply | None]],
        scope: trio.CancelScope,
        generation: int,
        over: trio.Event,
    ) -> None:
        messages = [message for message, _ in batch]
        trigger = messages[-1]
        text = ""
        ended = False
        try:
            with scope:
                async with trio.open_nursery() as nursery:
                    resumed = self._resumed.get(trigger.message_id)
                    if resumed is not None and resumed.draft is not None:
                        nursery.start_soon(self.outbox.keep_typing)
                        draft = resumed.draft
                        posted, first_id = resumed.pieces_sent, resumed.first_piece_id
                    else:
                        self.inbox.replying(
                            [m.message_id for m in messages if not self._claimed_replying(m)]
                        )
                        # The claims were started on arrival and are waited for only before
                        # the first piece goes out; one already written that found the
                        # message answered before (a replay) costs no model call either.
                        messages = self._not_known_answered(messages)
                        if not messages:
                            nursery.cancel_scope.cancel()
                            ended = True
                            return
                        trigger = messages[-1]
                        nursery.start_soon(self.outbox.keep_typing)
                        files: list[tuple[str, bytes]] = []
                        with trio.move_on_after(self.deps.reply_timeout) as timer:
                            text, files = await self._compose(messages)
                        if timer.cancelled_caught:
                            text = "That took too long, so I stopped. Could you try again?"
                        draft = Draft(
                            text=text, files=files, covers=[m.message_id for m in messages]
                        )
                        posted, first_id = 0, None
                        messages = await self._still_owed(messages)
                    if messages:
                        trigger = messages[-1]
                        text = draft.text
                        first_id = await self.outbox.reply(trigger, draft, posted, first_id)
                    nursery.cancel_scope.cancel()
            if messages and not scope.cancelled_caught:
                self.replies += 1
                await self._after(messages, text, first_id)
            ended = True
        finally:
            ids = [message.message_id for message, _ in batch]
            owed = {message.message_id for message in messages}
            for message_id in ids:
                self._forget(message_id)
                if ended:
                    self._remember_finished(message_id)
            if scope.cancelled_caught:
                self.inbox.finish(ids, "stopped")
            for message, waiting in batch:
                if waiting is not None and not waiting.done:
                    if message.message_id not in owed:
                        waiting.reply(None)  # answered before: nothing new to say
                    else:
                        waiting.reply(text if not scope.cancelled_caught else "Stopped.")
            over.set()
            if ended:
                self.context.tell_self(ReplyDone(generation=generation))
            # else: the reply failed and takes this incarnation with it; the next one resumes
            # the inbox in order (this one must not start the next message meanwhile).

    def _not_known_answered(self, messages: list[MessageReceived]) -> list[MessageReceived]:
        """The messages whose claim is not known to have found them answered before: a
        claim already written that says so costs no model call; one not written yet does
        not hold the reply up (it is waited for before the first piece instead)."""
        owed = []
        for message in messages:
            claim = self._claims.get(message.message_id)
            if claim is not None and claim.known_answered():
                self.duplicates += 1
                self._claims.pop(message.message_id, None)
            else:
                owed.append(message)
        return owed

    async def _still_owed(self, messages: list[MessageReceived]) -> list[MessageReceived]:
        """The messages whose claim found them new (or unfinished): the rest were answered
        before (a re-delivery after a restart) and are left alone."""
        owed = []
        for message in messages:
            claim = self._claims.get(message.message_id)
            if claim is None or await claim.is_new():
                owed.append(message)
            else:
                self.duplicates += 1
                logger.debug(
                    "channel %s: message %s was answered before",
                    self.channel_id,
                    message.message_id,
                )
        return owed

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
            messages=await self.window.build(messages, first_text), tier=tier, max_tokens=1500
        )
        registry = self.deps.tools_for(trigger) if self.deps.tools_for else ToolRegistry()

        lines = 0

        async def progress(event: ToolProgress) -> None:
            nonlocal lines
            if event.status == "started":
                lines += 1  # each line its own nonce, or Discord would keep only the first
                await self.outbox.notice(
                    trigger, f"-# using {event.tool}…", f"progress-{lines}", reply=False
                )

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

    def _spawn(self, function: Callable[..., Any], *args: Any, name: str | None = None) -> Any:
        """A task beside this incarnation (the window folds its summary in one)."""
        return self.context.start_task(function, *args, name=name)

    def _auto_tier(self) -> bool:
        """Whether a low-tier call chooses the tier: the server's setting, else Clara's."""
        chosen = self.guild.auto_tier
        return self.deps.llm_settings.auto_tier if chosen is None else chosen

    async def _complete(self, request: ChatRequest) -> Completion:
        completion: Completion = await self.deps.llm.ask(
            Complete(request=request, timeout=self.deps.llm_settings.timeout * 2), timeout=None
        )
        return completion

    async def _after(
        self, messages: list[MessageReceived], reply: str, reply_id: str | None = None
    ) -> None:
        trigger = messages[-1]
        turns: list[Turn] = [
            (m.author.id, m.author.name, without_mention(m.content), m.message_id) for m in messages
        ]
        # Not waited for: the next reply needs only the history kept here, and the single
        # writer commits this before anything written after it.
        self.inbox.answered_soon(
            Exchange(
                platform=self.platform,
                channel_id=self.channel_id,
                guild_id=trigger.guild_id,
                is_dm=trigger.is_dm,
                turns=turns,
                reply=reply,
                reply_message_id=reply_id,
                answered=tuple(m.message_id for m in messages),
            )
        )
        self.window.record(messages, reply)
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
