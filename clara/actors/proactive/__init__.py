"""The proactive engine: Clara reaching out on her own, one actor per person.

- ``person``: ``ProactivePersonActor``, one person's check (rules, context, the model's
  decision, a note or a message);
- ``scheduler``: wakes the people who are due (the schedule is the store's), spread;
- ``hub``: every message people write, into their patterns, without ever blocking a channel;
- ``delivery``: a SPEAK is a promise: recorded, sent once, resumed after a crash;
- ``decision`` / ``context``: the model's answer and what it is shown;
- ``sources``: the calendar feed, mood and topics;
- ``snapshots``: passivated actors' state in the store;
- ``subsystem``: the subtree and what the rest of Clara uses of it.

The rules themselves (time zones, quiet hours, decay, the next check) are plain functions in
``clara.proactive``.
"""

from __future__ import annotations

from .context import MailHint
from .decision import Decision, read_decision
from .delivery import Delivery
from .hub import ActivityHub, ActivitySink
from .messages import Check, MailArrived, PersonStatus, StatusAsk
from .person import ProactiveOptions, ProactivePersonActor
from .scheduler import ProactiveScheduler
from .snapshots import StoreSnapshots
from .subsystem import ProactiveSystem, proactive_subsystem, wall_clock

__all__ = [
    "ActivityHub",
    "ActivitySink",
    "Check",
    "Decision",
    "Delivery",
    "MailArrived",
    "MailHint",
    "PersonStatus",
    "ProactiveOptions",
    "ProactivePersonActor",
    "ProactiveScheduler",
    "ProactiveSystem",
    "StatusAsk",
    "StoreSnapshots",
    "proactive_subsystem",
    "read_decision",
    "wall_clock",
]
