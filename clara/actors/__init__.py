"""Actors: the runtime (Actor, ActorRef, Mailbox, dead letters) and, later, Clara's domain actors.

The runtime lives in private modules (``_actor``, ``_cell``, ``_mailbox``, ...); its public
names are re-exported here. See ``docs/architecture.md`` for the contract.
"""

from ._actor import Actor, ActorContext
from ._ask import DeferredReply
from ._cell import FAIRNESS_BATCH, ActorCell
from ._dead_letters import DeadLetter, DeadLetterReason, DeadLetters, DeadLetterStatistics
from ._mailbox import Mailbox, MailboxStatistics, Overflow
from ._ref import DEFAULT_ASK_TIMEOUT, ActorRef
from ._scheduler import Scheduler
from ._statistics import ActorState, ActorStatistics, BackoffSnapshot, FailureInfo
from ._system import ActorSystem, KindTotals
from ._timers import Timer

__all__ = [
    "DEFAULT_ASK_TIMEOUT",
    "FAIRNESS_BATCH",
    "Actor",
    "ActorCell",
    "ActorContext",
    "ActorRef",
    "ActorState",
    "ActorStatistics",
    "ActorSystem",
    "BackoffSnapshot",
    "DeadLetter",
    "DeadLetterReason",
    "DeadLetterStatistics",
    "DeadLetters",
    "DeferredReply",
    "FailureInfo",
    "KindTotals",
    "Mailbox",
    "MailboxStatistics",
    "Overflow",
    "Scheduler",
    "Timer",
]
