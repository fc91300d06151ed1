"""The ``proactive`` subtree: one actor per active person, a scheduler, an activity hub.

```
/clara/proactive            Supervisor
├── people                  DynamicSupervisor, key "platform:user id": ProactivePersonActor
│                           (passivated when idle, snapshot in the store)
├── hub                     ActivityHub: every message people write → their pattern
└── scheduler               ProactiveScheduler: wakes who is due; delivers open promises
```

``proactive_subsystem`` returns the ``ProactiveSystem``: the spec for the root, and what the
rest of Clara uses: ``offer(message)`` for channels (every message a person writes; never
blocks, never raises), ``offer_mail(...)`` for email accounts, ``delivery`` and ``people``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
from prometheus_client.core import Metric

from ...adapters.chat import ChatTransport, MessageReceived
from ...adapters.llm import Tier
from ...config import Settings
from ...proactive import QuietHours
from ...store import Database
from ...store._proactive import Activity
from ...store._secrets import SecretBox
from ...supervisors import ChildSpec, DynamicSupervisor, Restart, Supervisor
from .. import Actor, ActorRef, Overflow
from ..email.account import ImportantMail
from .context import MailHint
from .continuity import Continuity
from .delivery import Delivery
from .hub import ActivityHub, ActivitySink
from .person import ProactiveOptions, ProactivePersonActor
from .scheduler import ProactiveScheduler
from .snapshots import StoreSnapshots
from .sources import CalendarSource, mood_and_topics
from .totals import ProactiveTotals

__all__ = ["ProactiveSystem", "proactive_subsystem", "wall_clock"]

logger = logging.getLogger(__name__)


def wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class ProactiveSystem:
    spec: ChildSpec
    supervisor: Supervisor
    people: DynamicSupervisor
    sink: ActivitySink
    delivery: Delivery
    clock: Callable[[], dt.datetime]
    calendar: CalendarSource | None = None
    continuity: Continuity | None = None
    """A paragraph on a person for channels' replies (mood after a silence, topics)."""
    totals: ProactiveTotals | None = None

    def metrics(self) -> Iterator[Metric]:
        """The engine's totals for ``/metrics`` (``status_subsystem(metrics=...)``)."""
        if self.totals is None:
            return
        yield from self.totals.families(
            delivered=self.delivery.delivered,
            failed=self.delivery.failed,
            expired=self.delivery.expired,
            activities=self.sink.written,
            dropped=self.sink.dropped,
            live_people=len(self.people),
        )

    def offer(self, message: MessageReceived) -> None:
        """Hand over a message a person wrote (any message, addressed to Clara or not).
        Never blocks, never raises: at worst the activity is dropped and counted."""
        try:
            if getattr(message.author, "bot", False):
                return
            at = (
                dt.datetime.fromtimestamp(message.sent_at, dt.UTC)
                if message.sent_at is not None
                else self.clock()
            )
            self.sink.offer(
                Activity(
                    platform=message.platform,
                    user_id=message.author.id,
                    name=message.author.name,
                    channel_id=message.channel_id,
                    guild_id=message.guild_id,
                    message_id=message.message_id,
                    at=at,
                )
            )
        except Exception:  # the conversation goes on whatever happens here
            self.sink.dropped += 1
            logger.exception("proactive: a message's activity was not taken")

    def offer_mail(self, platform: str, user_id: str, hint: MailHint) -> None:
        """Tell a person's actor about important mail (never blocks, never raises)."""
        self.sink.offer_mail(f"{platform}:{user_id}", hint)

    def important_mail(self, mail: ImportantMail) -> None:
        """The email accounts' hand-off (``email_subsystem(important_mail=...)``)."""
        self.offer_mail(
            mail.platform,
            mail.user_id,
            MailHint(
                sender=mail.sender[:200],
                subject=mail.subject[:200],
                importance=mail.importance,
                at=mail.received_at,
            ),
        )


def proactive_subsystem(
    settings: Settings,
    *,
    database: Database,
    llm: ActorRef,
    transport: ChatTransport,
    box: SecretBox | None = None,
    http: httpx.AsyncClient | None = None,
    clock: Callable[[], dt.datetime] = wall_clock,
    tick: float | None = None,
    flush: float = 2.0,
) -> ProactiveSystem:
    """The subtree (nothing runs until its supervisor starts); see the module's docstring."""
    proactive = settings.proactive
    delivery = Delivery(
        transport,
        database,
        clock,
        resume_window=dt.timedelta(seconds=settings.discord.resume_window),
    )
    calendar = (
        CalendarSource(database, box, http, every=dt.timedelta(minutes=proactive.calendar_minutes))
        if box is not None and http is not None
        else None
    )
    options = ProactiveOptions(
        database=database,
        llm=llm,
        delivery=delivery,
        clock=clock,
        enabled=proactive.enabled,
        quiet_hours=QuietHours.parse(proactive.quiet_hours),
        max_per_day=proactive.max_per_day,
        min_gap=dt.timedelta(minutes=proactive.min_gap_minutes),
        base_interval=dt.timedelta(minutes=proactive.check_minutes),
        min_interval=dt.timedelta(minutes=proactive.min_check_minutes),
        max_interval=dt.timedelta(hours=proactive.max_check_hours),
        reply_window=dt.timedelta(hours=proactive.reply_window_hours),
        note_decay_per_day=1.0 / proactive.note_days,
        tier=Tier(proactive.tier),
        events=calendar,
        mood=mood_and_topics,
        totals=ProactiveTotals(),
    )

    def start(key: object) -> Actor:
        return ProactivePersonActor(str(key), options)

    people = DynamicSupervisor(
        start,
        max_children=proactive.max_people,
        restart=Restart.TRANSIENT,
        mailbox_capacity=8,
        overflow=Overflow.REJECT,
        passivate_after=proactive.idle_seconds,
        snapshots=StoreSnapshots(database),
        # One person's broken check must never take the others down.
        max_restarts=10_000,
        max_seconds=60.0,
        shutdown=10.0,
    )
    sink = ActivitySink()
    reply_window = dt.timedelta(hours=proactive.reply_window_hours)
    first_check = dt.timedelta(minutes=proactive.check_minutes)
    children = [
        ChildSpec("people", people, shutdown=30.0),
        ChildSpec(
            "hub",
            lambda: ActivityHub(
                sink,
                database,
                people,
                clock,
                flush=flush,
                first_check=first_check,
                reply_window=reply_window,
            ),
            mailbox_capacity=16,
            shutdown=10.0,
        ),
        ChildSpec(
            "scheduler",
            lambda: ProactiveScheduler(
                people,
                database,
                delivery,
                clock,
                tick=tick if tick is not None else proactive.tick_seconds,
                spread=dt.timedelta(minutes=proactive.spread_minutes),
                active_days=proactive.active_days,
            ),
            mailbox_capacity=16,
            shutdown=10.0,
        ),
    ]
    supervisor = Supervisor(children, max_restarts=10, max_seconds=60.0)
    logger.info(
        "proactive: %s; checks every %d min, quiet %s, at most %d a day",
        "on" if proactive.enabled else "off",
        proactive.check_minutes,
        proactive.quiet_hours,
        proactive.max_per_day,
    )
    return ProactiveSystem(
        spec=ChildSpec("proactive", supervisor, shutdown=60.0),
        supervisor=supervisor,
        people=people,
        sink=sink,
        delivery=delivery,
        clock=clock,
        calendar=calendar,
        continuity=Continuity(database, clock),
        totals=options.totals,
    )
