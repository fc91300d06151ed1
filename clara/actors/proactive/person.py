"""ProactivePersonActor: one person's proactive state, and the check that decides.

Started by the scheduler when the person's check is due (``next_check_at`` in the store:
timers end with an incarnation, so the schedule lives there), passivated when idle with a
snapshot of what lives only here (mail Clara was told about, the calendar's events), and
restored from the store.

A check, in order:

1. the person's row; nothing when they opted out, proactive messages are off, or the server
   they are reached in opted out (the next check is put far off);
2. the rules that need no model: quiet hours in their own time zone (no model asked: the
   next check is the end of them); the minimum gap and the per-day cap (the model may still
   THINK, and is told it may not speak);
3. the context (``context.CheckContext``): their messages with ids, the DM's summary, notes
   with their relevance now (decayed; archived at zero or at expiry), the last proactive
   messages and the response rate measured from them, calendar events, mail, mood, topics;
4. the model's decision (``decision.read_decision``: an invalid answer is WAIT, counted);
5. one transaction: the assessment, the counts, a THINK's note, a SPEAK's claim, the next
   check (``clara.proactive.next_check``: adapted and clamped);
6. a SPEAK's claim is delivered (``delivery.Delivery``); a crash before that leaves it for
   the resume at start.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import trio

from ...adapters.llm import Completion, Tier
from ...errors import ClaraError, StoreUnavailable
from ...proactive import (
    ActiveHours,
    QuietHours,
    ResponseStats,
    SentRecord,
    archived,
    may_speak,
    next_check,
    relevance,
)
from ...proactive.zones import zone as zone_named
from ...store import Database
from ...store._proactive import (
    CheckOutcome,
    Claim,
    NoteDraft,
    PersonState,
    SentRecordRow,
    channel_guild,
    dm_summary,
    load_person,
    person_lines,
    person_notes,
    proactive_history,
    save_check,
    server_proactive_enabled,
)
from .. import Actor, ActorRef
from ..llm import Complete
from .context import CheckContext, MailHint, UpcomingEvent, check_request, known_ids
from .decision import Decision, read_decision
from .delivery import Delivery
from .messages import Check, MailArrived, PersonStatus, StatusAsk
from .totals import ProactiveTotals

__all__ = ["ProactiveOptions", "ProactivePersonActor"]

logger = logging.getLogger(__name__)

_FAR = dt.timedelta(days=7)
_MAIL_KEPT = 10


@dataclass(frozen=True)
class ProactiveOptions:
    """What every person's actor shares (see ``ProactiveSettings`` for the numbers)."""

    database: Database
    llm: ActorRef
    delivery: Delivery
    clock: Callable[[], dt.datetime]
    enabled: bool = True
    quiet_hours: QuietHours = field(default_factory=lambda: QuietHours(22, 8))
    max_per_day: int = 3
    min_gap: dt.timedelta = dt.timedelta(hours=4)
    base_interval: dt.timedelta = dt.timedelta(minutes=30)
    min_interval: dt.timedelta = dt.timedelta(minutes=10)
    max_interval: dt.timedelta = dt.timedelta(hours=24)
    reply_window: dt.timedelta = dt.timedelta(hours=12)
    note_decay_per_day: float = 0.1
    history: dt.timedelta = dt.timedelta(days=14)
    llm_timeout: float = 60.0
    tier: Tier = Tier.LOW
    events: Callable[[PersonState, dt.datetime], Any] | None = None
    """``await events(person, now)``: the person's upcoming events (the calendar), or None."""
    totals: ProactiveTotals = field(default_factory=ProactiveTotals)
    """Counts every check's outcome (for ``/metrics``)."""
    mood: Callable[[Sequence[Any], dt.datetime], tuple[str, list[str]]] | None = None
    """``mood(lines, now)``: (the arc of the last conversation, recurring topics); blocking,
    run in a worker thread."""


class _Snapshot(msgspec.Struct, kw_only=True):
    mail: list[MailHint] = msgspec.field(default_factory=list)


class ProactivePersonActor(Actor):
    """One person (``platform:user id``): see the module's docstring."""

    def __init__(self, key: str, options: ProactiveOptions) -> None:
        platform, _, user_id = key.partition(":")
        self.key = key
        self.platform = platform
        self.user_id = user_id
        self.options = options
        self.mail: list[MailHint] = []
        self.checks = 0
        self.last_decision: str | None = None
        self.last_reason: str | None = None
        self.next_check_at: dt.datetime | None = None
        self.invalid = 0
        self.state = "idle"

    # -- life ---------------------------------------------------------------------------------

    async def on_passivate(self) -> Any:
        return msgspec.to_builtins(_Snapshot(mail=self.mail))

    async def on_restore(self, snapshot: Any) -> None:
        if snapshot:
            try:
                restored = msgspec.convert(snapshot, type=_Snapshot)
            except msgspec.ValidationError as error:
                logger.warning("proactive %s: snapshot not read: %s", self.key, error)
                return
            self.mail = restored.mail[-_MAIL_KEPT:]

    def describe(self) -> dict[str, Any] | None:
        return {
            "state": self.state,
            "next_check": self.next_check_at.isoformat() if self.next_check_at else None,
            "last_decision": self.last_decision,
            "checks": self.checks,
            "invalid": self.invalid,
            "mail_waiting": len(self.mail),
        }

    # -- messages -----------------------------------------------------------------------------

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, Check):
            await self._check(message)
            return None
        if isinstance(message, MailArrived):
            self.mail = [*self.mail, message.hint][-_MAIL_KEPT:]
            return None
        if isinstance(message, StatusAsk):
            return PersonStatus(
                state=self.state,
                next_check_at=self.next_check_at,
                last_decision=self.last_decision,
                last_reason=self.last_reason,
                checks=self.checks,
                invalid=self.invalid,
            )
        raise TypeError(f"ProactivePersonActor does not handle {type(message).__name__}")

    # -- the check ----------------------------------------------------------------------------

    async def _check(self, message: Check) -> None:
        options = self.options
        now = options.clock()
        try:
            person = await options.database.run(load_person, self.platform, self.user_id)
        except StoreUnavailable as error:
            logger.warning("proactive %s: not checked, the store is away: %s", self.key, error)
            return
        if person is None:
            return
        self.next_check_at = person.next_check_at
        if not message.forced and person.next_check_at is not None and person.next_check_at > now:
            return  # a second Check for a check done meanwhile
        self.state = "checking"
        try:
            outcome, claim = await self._decide(person, now)
            try:
                record = await options.database.write(
                    save_check, self.platform, self.user_id, outcome
                )
            except StoreUnavailable as error:
                logger.warning("proactive %s: check not recorded: %s", self.key, error)
                return
            self.checks += 1
            options.totals.count(outcome.decision, valid=outcome.valid)
            self.last_decision = outcome.decision
            self.last_reason = outcome.reason
            self.next_check_at = outcome.next_check_at
            if not outcome.valid:
                self.invalid += 1
            if outcome.decision == "SPEAK":
                self.mail = []  # what was said covers what Clara knew
            if record is not None and claim:
                self.state = "sending"
                await options.delivery.deliver(record)
        finally:
            self.state = "idle"

    async def _decide(self, person: PersonState, now: dt.datetime) -> tuple[CheckOutcome, bool]:
        options = self.options
        try:
            zone = zone_named(person.time_zone)
        except ValueError:
            zone = zone_named("UTC")
        quiet = options.quiet_hours
        if person.quiet_hours:
            with contextlib.suppress(ValueError):
                quiet = QuietHours.parse(person.quiet_hours)
        active = ActiveHours(weights=list(person.active_hours))
        off = await self._off(person)
        if off is not None:
            return self._outcome(now, off, "", next_at=now + _FAR), False
        history = await options.database.run(proactive_history, person.user_pk)
        response = ResponseStats.from_history(
            [_sent_record(row) for row in history if row.state in ("delivered", "claimed")],
            options.reply_window,
            now,
        )
        sent_times = [row.claimed_at for row in history if row.state in ("delivered", "claimed")]
        refusal = may_speak(
            now,
            zone,
            sent_times,
            min_gap=options.min_gap,
            max_per_day=options.max_per_day,
            quiet=quiet,
        )

        def schedule(
            suggested: dt.timedelta | None,
            urgent: dt.datetime | None,
            event: dt.datetime | None = None,
        ) -> dt.datetime:
            return next_check(
                now,
                zone,
                base=options.base_interval,
                active=active,
                quiet=quiet,
                ignored_streak=response.ignored_streak,
                urgent_due=urgent,
                next_event=event,
                suggested=suggested,
                minimum=options.min_interval,
                maximum=options.max_interval,
            )

        if refusal is not None and refusal.code == "quiet":
            return self._outcome(now, "quiet", refusal.reason, next_at=schedule(None, None)), False
        notes = await options.database.run(person_notes, person.user_pk)
        kept: list[tuple[Any, float]] = []
        archive: list[int] = []
        for note in notes:
            per_day = options.note_decay_per_day
            value = relevance(note.relevance, note.created_at, now, per_day=per_day)
            if archived(
                note.relevance,
                note.created_at,
                now,
                per_day=options.note_decay_per_day,
                expires_at=note.expires_at,
            ):
                archive.append(note.id)
            else:
                kept.append((note, value))
        lines = await options.database.run(
            lambda session: person_lines(session, person.user_pk, since=now - options.history)
        )
        summary = await options.database.run(dm_summary, person.user_pk)
        events: list[UpcomingEvent] = []
        if options.events is not None and person.has_calendar:
            events = list(await options.events(person, now) or [])
        mood, topics = "", list[str]()
        if options.mood is not None and lines:
            mood, topics = await trio.to_thread.run_sync(options.mood, lines, now)
        context = CheckContext(
            now=now,
            zone_name=str(zone.key),
            name=person.name,
            active=active,
            quiet=quiet,
            lines=lines,
            summary=summary,
            notes=kept,
            sent=history[:5],
            response=response,
            events=events,
            mail=self.mail,
            mood=mood,
            topics=topics,
            may_speak=refusal is None,
            why_not=refusal.reason if refusal is not None else "",
        )
        urgent = min((note.expires_at for note, _ in kept if note.expires_at), default=None)
        upcoming = min((event.start for event in events if event.start > now), default=None)
        try:
            request = check_request(context, tier=options.tier)
            completion: Completion = await options.llm.ask(
                Complete(request=request, timeout=options.llm_timeout),
                timeout=options.llm_timeout + 30.0,
            )
        except ClaraError as error:
            reason = f"the model could not be asked: {error}"[:300]
            return (
                self._outcome(
                    now, "WAIT", reason, next_at=schedule(None, urgent, upcoming), archive=archive
                ),
                False,
            )
        reading = read_decision(completion.text, known_ids(context))
        decision = reading.decision
        suggested = (
            dt.timedelta(minutes=decision.next_check_minutes)
            if decision.next_check_minutes is not None
            else None
        )
        next_at = schedule(suggested, urgent, upcoming)
        if reading.invalid is not None:
            logger.info("proactive %s: invalid answer: %s", self.key, reading.invalid)
            return (
                self._outcome(
                    now,
                    "WAIT",
                    f"invalid answer: {reading.invalid}",
                    next_at=next_at,
                    valid=False,
                    archive=archive,
                ),
                False,
            )
        if decision.decision == "SPEAK" and refusal is not None:
            # Told it may not speak, and spoke anyway: the rules win.
            reason = f"{decision.assessment} (not sent: {refusal.reason})"
            return (
                self._outcome(now, "WAIT", reason, next_at=next_at, archive=archive),
                False,
            )
        draft = _note(decision, now)
        claim = None
        if decision.decision == "SPEAK":
            channel = person.reach_channel_id or await options.delivery.dm_channel(self.user_id)
            channel = channel or person.last_channel_id
            if channel is None:
                reason = f"{decision.assessment} (not sent: no channel to reach them in)"
                return (
                    self._outcome(now, "WAIT", reason, next_at=next_at, archive=archive),
                    False,
                )
            assert decision.message is not None
            claim = Claim(
                key=f"proactive:{self.key}:{person.checks + 1}",
                channel_id=channel,
                text=decision.message,
                kind=decision.message_kind,
            )
        outcome = self._outcome(
            now,
            decision.decision,
            decision.assessment,
            next_at=next_at,
            note=draft,
            claim=claim,
            archive=archive,
        )
        return outcome, claim is not None

    async def _off(self, person: PersonState) -> str | None:
        """Why no check runs for this person now, or None."""
        if not self.options.enabled:
            return "off"
        if not person.enabled:
            return "off"
        guild = None
        if person.reach_channel_id is not None:  # reached in a server's channel: its server
            guild = await self.options.database.run(
                channel_guild, self.platform, person.reach_channel_id
            )
        if guild is not None:
            enabled = await self.options.database.run(
                server_proactive_enabled, self.platform, guild
            )
            if not enabled:
                return "off"
        return None

    @staticmethod
    def _outcome(
        now: dt.datetime,
        decision: str,
        reason: str,
        *,
        next_at: dt.datetime,
        valid: bool = True,
        note: NoteDraft | None = None,
        claim: Claim | None = None,
        archive: Sequence[int] = (),
    ) -> CheckOutcome:
        return CheckOutcome(
            at=now,
            decision=decision,
            reason=reason,
            valid=valid,
            next_check_at=next_at,
            note=note,
            claim=claim,
            archive_notes=tuple(archive),
        )


def _sent_record(row: SentRecordRow) -> SentRecord:
    return SentRecord(sent_at=row.delivered_at or row.claimed_at, replied_at=row.replied_at)


def _note(decision: Decision, now: dt.datetime) -> NoteDraft | None:
    if decision.decision != "THINK" or decision.note is None:
        return None
    expires = (
        now + dt.timedelta(hours=decision.expires_in_hours)
        if decision.expires_in_hours is not None
        else None
    )
    return NoteDraft(
        text=decision.note,
        kind=decision.note_kind,
        confidence=decision.confidence,
        sources=list(decision.sources),
        expires_at=expires,
    )
