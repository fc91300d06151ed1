"""The default /status view: what an operator reads first, at a cost the tree's size does not set.

A dashboard polls ``GET /status`` often. The whole tree of 10,000 actors is 3 MB of JSON;
building and sending it ten times a second took a fifth of the event loop that runs the
actors, and tripled their p99 latency. The overview holds what the page shows instead:

- every supervisor, and every actor of a static supervisor (the LLM gateway, the Discord
  connection, the MCP catalog: the actors whose ``details`` operators read);
- the first ``PER_SUPERVISOR`` children of each dynamic supervisor (the page shows that
  many and says how many more there are, from the supervisor's ``child_count``);
- every node that needs attention (starting, backing off, stopping, failed), up to
  ``ATTENTION_LIMIT``, wherever it is.

Only two things must look at every actor: the summary's counts, and the search for the
actors needing attention among a dynamic supervisor's children. ``TreeWatch`` keeps both
while the tree reports no lifecycle event; the search runs only when the census counts
such actors, and looks at a few dozen children between two checkpoints, so no request
holds the event loop for long.
"""

from __future__ import annotations

from itertools import islice

import trio

from ...actors import ActorRef, ActorState, ActorStatistics
from ...supervisors import (
    Census,
    DynamicSupervisor,
    Supervisor,
    SupervisorBase,
    SupervisorStatistics,
)
from ._watch import COUNT_SLICE, TreeWatch

__all__ = [
    "ATTENTION",
    "ATTENTION_LIMIT",
    "PER_SUPERVISOR",
    "actors_need_attention",
    "overview_nodes",
]

Node = ActorStatistics | SupervisorStatistics

#: The states an operator is shown first, wherever the node is.
ATTENTION = frozenset(
    {ActorState.STARTING, ActorState.BACKING_OFF, ActorState.STOPPING, ActorState.FAILED}
)

#: Children of a dynamic supervisor shown in the overview (the page shows as many).
PER_SUPERVISOR = 50

#: Nodes needing attention shown in one overview, beyond the ones shown anyway: when
#: every channel fails at once, the summary counts them all and the page shows the first.
ATTENTION_LIMIT = 200


def actors_need_attention(census: Census) -> bool:
    """Whether the census counts an actor in a state that needs attention (supervisors
    are all in the overview anyway)."""
    return any(census.actors.get(state.value) for state in ATTENTION)


async def overview_nodes(
    root: SupervisorBase,
    *,
    search: bool,
    watch: TreeWatch | None = None,
    per_supervisor: int = PER_SUPERVISOR,
    attention_limit: int = ATTENTION_LIMIT,
) -> list[Node]:
    """The overview's nodes, depth first in start order.

    Args:
        root: the tree.
        search: look through the children of the dynamic supervisors beyond the ones shown
            for actors needing attention (the census counts some): in slices of
            ``COUNT_SLICE`` children with a checkpoint between them, or not at all while
            ``watch`` still holds what the last search found.
        watch: the tree's watch, which keeps what a search found.
        per_supervisor: children shown of each dynamic supervisor.
        attention_limit: actors needing attention shown beyond those.
    """
    found: list[Node] = []
    remembered = watch.attention() if search and watch is not None else None
    stamp = watch.stamp() if watch is not None else (0, 0.0)
    visit = _Visit(
        found,
        per_supervisor=per_supervisor,
        budget=attention_limit if search else 0,
        remembered=remembered,
    )
    await visit.supervisor(root)
    if search and remembered is None and watch is not None:
        watch.remember_attention(stamp, visit.searched)
    return found


class _Visit:
    """One walk of the overview: what it shows, and what its search found."""

    def __init__(
        self,
        found: list[Node],
        *,
        per_supervisor: int,
        budget: int,
        remembered: dict[str, list[ActorRef]] | None,
    ) -> None:
        self.found = found
        self.per_supervisor = per_supervisor
        self.budget = budget
        self.remembered = remembered
        self.searched: dict[str, list[ActorRef]] = {}

    async def supervisor(self, supervisor: SupervisorBase) -> None:
        own = supervisor.statistics()
        self.found.append(own)
        if isinstance(supervisor, DynamicSupervisor):
            await self._dynamic(supervisor, own.path)
        elif isinstance(supervisor, Supervisor):
            for child in own.children:
                if child.kind == "supervisor":
                    await self.supervisor(supervisor.child(child.id))
                    continue
                actor = supervisor.ref(child.id).statistics()
                if actor.path == f"{own.path}/{child.id}":  # else not started yet, as in walk()
                    self.found.append(actor)
        else:  # a kind of supervisor this view does not know: everything under it
            for index, node in enumerate(islice(supervisor.walk(), 1, None), start=1):
                self.found.append(node)
                if index % COUNT_SLICE == 0:
                    await trio.lowlevel.checkpoint()

    async def _dynamic(self, supervisor: DynamicSupervisor, path: str) -> None:
        keys = supervisor.keys()
        shown: set[str] = set()
        index = 0
        while index < len(keys) and len(shown) < self.per_supervisor:
            ref = supervisor.get(keys[index])
            index += 1
            if ref is not None:  # else passivated, or not started yet
                node = ref.statistics()
                shown.add(node.path)
                self.found.append(node)
        if self.budget <= 0:
            return
        if self.remembered is not None:
            for ref in self.remembered.get(path, ()):
                if self.budget > 0 and ref.path not in shown:
                    self.budget -= 1
                    self.found.append(ref.statistics())
            return
        searched = self.searched.setdefault(path, [])
        for position in range(index, len(keys)):
            if position % COUNT_SLICE == 0:
                await trio.lowlevel.checkpoint()
            ref = supervisor.get(keys[position])
            if ref is not None and ref.state in ATTENTION:
                searched.append(ref)
                self.found.append(ref.statistics())
                self.budget -= 1
                if self.budget <= 0:
                    return
