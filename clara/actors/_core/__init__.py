"""The runtime core: Actor, ActorRef, ActorCell, Mailbox, asks, timers, the scheduler, dead
letters, lifecycle events.

This folder is private (as trio keeps ``trio/_core``): everything public is re-exported by
``clara.actors``. It imports nothing from ``clara.adapters`` or ``clara.store``
(``tests/test_layering.py`` checks the folder). See ``docs/architecture.md`` for the contract.
"""

from .actor import Actor, ActorContext
from .ask import DeferredReply
from .cell import FAIRNESS_BATCH, ActorCell
from .dead_letters import DeadLetter, DeadLetterReason, DeadLetters, DeadLetterStatistics
from .events import (
    BackingOff,
    Crashed,
    Escalated,
    LifecycleEvent,
    Passivated,
    Restarted,
    Restored,
    Started,
    Stopped,
)
from .mailbox import DEFAULT_CONTROL_CAPACITY, Mailbox, MailboxStatistics, Overflow
from .ref import DEFAULT_ASK_TIMEOUT, ActorRef
from .scheduler import Scheduler
from .statistics import ActorState, ActorStatistics, BackoffSnapshot, FailureInfo
from .system import ActorSystem, KindTotals, Observer
from .timers import Timer

__all__ = [
    "DEFAULT_ASK_TIMEOUT",
    "DEFAULT_CONTROL_CAPACITY",
    "FAIRNESS_BATCH",
    "Actor",
    "ActorCell",
    "ActorContext",
    "ActorRef",
    "ActorState",
    "ActorStatistics",
    "ActorSystem",
    "BackingOff",
    "BackoffSnapshot",
    "Crashed",
    "DeadLetter",
    "DeadLetterReason",
    "DeadLetterStatistics",
    "DeadLetters",
    "DeferredReply",
    "Escalated",
    "FailureInfo",
    "KindTotals",
    "LifecycleEvent",
    "Mailbox",
    "MailboxStatistics",
    "Observer",
    "Overflow",
    "Passivated",
    "Restarted",
    "Restored",
    "Scheduler",
    "Started",
    "Stopped",
    "Timer",
]
