"""Actors: the runtime core and Clara's domain actors, one package per family.

```
clara/actors/
    _core/       the runtime: Actor, ActorRef, ActorCell, Mailbox, asks, timers, dead letters
    channel/     one ChannelActor per chat channel: a conversation, in order, exactly once
    llm/         the LLM gateway actor (providers in failover order)
    memory/      the memory actor (mem0 over Qdrant)
    mcp/         MCP servers: one actor per server, the catalog, installs, OAuth
    discord/     the Discord gateway actor and the slash commands
    console/     the terminal chat
    status/      the status endpoint's actor
    policy/      who may act and how often: admin checks, the audit log, per-person rates
```

Only the runtime core is re-exported here; a family is imported by its package
(``from clara.actors.channel import ChannelActor``). Each family has a ``subsystem`` module
whose function returns the family's ``ChildSpec`` for ``run.py``'s tree. See
``docs/architecture.md`` for the contract.
"""

from ._core import (
    DEFAULT_ASK_TIMEOUT,
    DEFAULT_CONTROL_CAPACITY,
    FAIRNESS_BATCH,
    Actor,
    ActorCell,
    ActorContext,
    ActorRef,
    ActorState,
    ActorStatistics,
    ActorSystem,
    BackingOff,
    BackoffSnapshot,
    Crashed,
    DeadLetter,
    DeadLetterReason,
    DeadLetters,
    DeadLetterStatistics,
    DeferredReply,
    Escalated,
    FailureInfo,
    KindTotals,
    LifecycleEvent,
    Mailbox,
    MailboxStatistics,
    Observer,
    Overflow,
    Passivated,
    Restarted,
    Restored,
    Scheduler,
    Started,
    Stopped,
    Timer,
)

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
