"""Intake: the gate between the Discord connection and the channels, and what a start owes.

The connection (``DiscordGateway``, the ``discord`` child) starts before the channels and
stops after them, so replies can still be posted while Clara stops. What it receives passes
through an ``IntakeGate`` that the ``intake`` child (started after the channels, stopped
first) opens and closes:

    start   discord connects → channels → intake: resume the channels holding unfinished
            messages, catch up what was written while Clara was down, then open the gate
    stop    intake closes the gate (no new work) → channels drain (running replies finish,
            the queue stays in the inbox) → discord disconnects

What arrives while the gate is closed waits in the connection's ordered buffer; whatever is
left there when the process ends is found by the next start's catch-up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from ...adapters.chat import MessageReceived
from ...config import DiscordSettings
from ...errors import ClaraError
from ...store import Database, channels_with_open_messages, known_messages, recent_channels
from .. import Actor, ActorRef

__all__ = ["Intake", "IntakeGate"]

logger = logging.getLogger(__name__)

Route = Callable[[MessageReceived], Awaitable[None]]


class IntakeGate:
    """Holds live messages back until it is opened; closed again, it holds them again.

    The connection routes every message through ``__call__``; the router behind it is
    attached by the connection (``attach``), opened and closed by ``Intake``.
    """

    def __init__(self) -> None:
        self._opened = trio.Event()
        self._route: Route | None = None
        self.held = 0
        # Caught up before the gate opened, and perhaps delivered live too: passed once.
        self._caught_up: set[str] = set()

    def attach(self, route: Route) -> None:
        """The router live messages go to once the gate is open (the connection's)."""
        self._route = route

    @property
    def is_open(self) -> bool:
        return self._opened.is_set()

    def open(self) -> None:
        self._opened.set()

    def close(self) -> None:
        if self._opened.is_set():
            self._opened = trio.Event()

    async def __call__(self, message: MessageReceived) -> None:
        while not self._opened.is_set():
            self.held += 1  # the connection buffers what follows, in order
            try:
                await self._opened.wait()
            finally:
                self.held -= 1
        if self._caught_up and message.message_id in self._caught_up:
            self._caught_up.discard(message.message_id)
            return
        if self._route is None:
            raise RuntimeError("no connection is routing messages")
        await self._route(message)

    async def deliver(self, message: MessageReceived) -> None:
        """Route ``message`` past the gate (caught-up messages, before it opens); the same
        message arriving live afterwards is not passed again.

        Raises:
            RuntimeError: no router is attached (the connection is not running).
        """
        if self._route is None:
            raise RuntimeError("no connection is routing messages")
        if len(self._caught_up) < 100_000:
            self._caught_up.add(message.message_id)
        await self._route(message)


class Intake(Actor):
    """Opens the gate once the start's debts are paid, and closes it first when Clara stops.

    Args:
        gate: the connection's gate.
        platform: ``discord``.
        channel: returns a channel's actor, starting it (which resumes its unfinished
            messages).
        history: reads a channel's messages after a message id (the bridge's ``history``).
        database: the inbox; None: nothing to resume or catch up.
        settings: the resume window and the catch-up bounds.
    """

    def __init__(
        self,
        gate: IntakeGate,
        *,
        platform: str,
        channel: Callable[[str], Awaitable[ActorRef]],
        history: Callable[..., Awaitable[list[MessageReceived]]] | None,
        database: Database | None,
        settings: DiscordSettings,
    ) -> None:
        self.gate = gate
        self.platform = platform
        self._channel = channel
        self._history = history
        self.database = database
        self.settings = settings
        self.resumed_channels = 0
        self.caught_up = 0
        self.phase = "starting"

    async def on_start(self) -> None:
        self.context.start_task(self._open, name="intake")

    async def on_stop(self) -> None:
        self.gate.close()
        self.phase = "closed"

    async def on_receive(self, message: Any) -> Any:
        raise TypeError(f"Intake does not handle {type(message).__name__}")

    def describe(self) -> dict[str, Any] | None:
        return {
            "phase": self.phase,
            "resumed_channels": self.resumed_channels,
            "caught_up": self.caught_up,
            "held": self.gate.held,
        }

    async def _open(self) -> None:
        try:
            await self._resume()
            await self._catch_up()
        finally:
            # Whatever happened above, live messages must flow.
            self.gate.open()
            self.phase = "open"

    async def _resume(self) -> None:
        """Start every channel that holds unfinished messages: each resumes its own."""
        if self.database is None:
            return
        self.phase = "resuming"
        for channel_id in await self.database.run(channels_with_open_messages, self.platform):
            try:
                await self._channel(channel_id)
            except (ClaraError, RuntimeError) as error:
                logger.warning("intake: channel %s cannot resume: %s", channel_id, error)
                continue
            self.resumed_channels += 1

    async def _catch_up(self) -> None:
        """Messages written while Clara was down, in channels active shortly before: read
        from each channel's history and routed like live ones (the channel decides whether
        they are for Clara), when younger than the resume window and not known already."""
        settings = self.settings
        if (
            self.database is None
            or self._history is None
            or settings.catchup_lookback <= 0
            or settings.catchup_channels <= 0
        ):
            return
        self.phase = "catching up"
        since = time.time() - settings.catchup_lookback
        channels = await self.database.run(
            recent_channels, self.platform, since, settings.catchup_channels
        )
        oldest = time.time() - settings.resume_window
        for channel_id, last_seen in channels:
            try:
                # The latest ones (a busy channel may hold more than the bound since then):
                # the newest missed questions matter most.
                latest = await self._history(
                    channel_id, after=None, limit=settings.catchup_messages
                )
            except ClaraError as error:
                logger.info("intake: cannot catch up channel %s: %s", channel_id, error)
                continue
            fresh = [
                m
                for m in latest
                if _after(m.message_id, last_seen) and (m.sent_at is None or m.sent_at >= oldest)
            ]
            if not fresh:
                continue
            known = await self.database.run(
                known_messages, self.platform, [m.message_id for m in fresh]
            )
            for message in fresh:
                if message.message_id in known:
                    continue
                self.caught_up += 1
                await self.gate.deliver(message)
        if self.caught_up:
            logger.info("intake: caught up %d message(s) sent while Clara was down", self.caught_up)


def _after(message_id: str, last_seen: str) -> bool:
    """Whether ``message_id`` came after ``last_seen`` (Discord's ids grow with time; ids
    that are not numbers are let through, and the inbox filters what it knows)."""
    if message_id.isdigit() and last_seen.isdigit():
        return int(message_id) > int(last_seen)
    return True
