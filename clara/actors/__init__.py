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

# The core's public names are this package's: one list, kept in ``_core/__init__.py``.
from . import _core
from ._core import *  # noqa: F403

__all__ = _core.__all__
