"""/metrics: the tree in Prometheus' text format, labelled by actor kind, never by actor.

Labels are the actor's class name (``kind``), its state, a supervisor's path, a dead-letter
reason: their number is set by the code, not by traffic, so 100,000 channel actors make
the same number of series as ten. Totals that must never go down (processed, failed,
restarts) come from the system's ``KindTotals``, which outlive passivated actors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence

import trio
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from ...actors import ActorStatistics, ActorSystem
from ...supervisors import SupervisorBase, SupervisorStatistics
from ._masking import Masker
from ._stream import CHUNK

__all__ = ["CONTENT_TYPE", "TreeMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Kind:
    __slots__ = ("capacity", "depth", "depth_max", "dropped", "states")

    def __init__(self) -> None:
        self.states: dict[str, int] = {}
        self.depth = 0
        self.depth_max = 0
        self.capacity = 0
        self.dropped = 0


class TreeMetrics(Collector):
    """A registry of its own (no process-wide default) holding the tree's metrics.

    ``refresh()`` walks the tree in chunks, yielding between them; ``render()`` then
    produces the exposition text from that snapshot, plus process and platform metrics.
    """

    def __init__(
        self,
        root: SupervisorBase,
        system: ActorSystem,
        *,
        version: str,
        started_at: float,
        masker: Masker | None = None,
        extra: Sequence[Callable[[], Iterable[Metric]]] = (),
    ) -> None:
        self._root = root
        self._extra = tuple(extra)
        self._masker = masker if masker is not None else Masker()
        self._system = system
        self._version = version
        self._started_at = started_at
        self._families: list[Metric] = []
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self.registry.register(ProcessCollector(registry=None))
        self.registry.register(PlatformCollector(registry=None))

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)

    def _masked(self, family: Metric) -> Metric:
        """The family with its label values masked: they are the code's names (kinds,
        states, paths), but a secret must not appear here even through a name."""
        text = self._masker.text
        for index, sample in enumerate(family.samples):
            if sample.labels:
                labels = {name: text(value) for name, value in sample.labels.items()}
                family.samples[index] = sample._replace(labels=labels)
        return family

    async def render(self) -> bytes:
        await self.refresh()
        return generate_latest(self.registry)

    async def refresh(self) -> None:
        kinds: dict[str, _Kind] = {}
        supervisors: list[SupervisorStatistics] = []
        for seen, node in enumerate(self._root.walk(), start=1):
            if isinstance(node, ActorStatistics):
                kind = kinds.get(node.kind)
                if kind is None:
                    kind = kinds[node.kind] = _Kind()
                state = node.state.value
                kind.states[state] = kind.states.get(state, 0) + 1
                mailbox = node.mailbox
                kind.depth += mailbox.depth
                kind.depth_max = max(kind.depth_max, mailbox.depth)
                kind.capacity += mailbox.capacity
                kind.dropped += node.dropped
            else:
                supervisors.append(node)
            if seen % CHUNK == 0:
                await trio.lowlevel.checkpoint()
        self._families = [self._masked(family) for family in self._build(kinds, supervisors)]

    def _build(
        self, kinds: dict[str, _Kind], supervisors: list[SupervisorStatistics]
    ) -> Iterator[Metric]:
        info = GaugeMetricFamily("clara_info", "Clara's version", labels=["version"])
        info.add_metric([self._version], 1)
        yield info
        uptime = GaugeMetricFamily("clara_uptime_seconds", "Seconds since the process started")
        uptime.add_metric([], time.time() - self._started_at)
        yield uptime

        actors = GaugeMetricFamily(
            "clara_actors", "Live actors by kind and state", labels=["kind", "state"]
        )
        depth = GaugeMetricFamily(
            "clara_mailbox_depth", "Messages waiting in the mailboxes of a kind", labels=["kind"]
        )
        depth_max = GaugeMetricFamily(
            "clara_mailbox_depth_max", "The fullest mailbox of a kind", labels=["kind"]
        )
        capacity = GaugeMetricFamily(
            "clara_mailbox_capacity", "Summed mailbox capacity of a kind", labels=["kind"]
        )
        dropped = GaugeMetricFamily(
            "clara_mailbox_dropped",
            "Messages dropped by the live mailboxes of a kind (overflow or stop)",
            labels=["kind"],
        )
        for name, kind in sorted(kinds.items()):
            for state, count in sorted(kind.states.items()):
                actors.add_metric([name, state], count)
            depth.add_metric([name], kind.depth)
            depth_max.add_metric([name], kind.depth_max)
            capacity.add_metric([name], kind.capacity)
            dropped.add_metric([name], kind.dropped)
        yield from (actors, depth, depth_max, capacity, dropped)

        totals = self._system.totals
        for metric, table, text in (
            ("clara_messages_processed", totals.processed, "Messages handled, by actor kind"),
            ("clara_messages_failed", totals.failed, "Crashes (handler, start or task), by kind"),
            ("clara_actor_restarts", totals.restarts, "Actor restarts, by kind"),
        ):
            family = CounterMetricFamily(metric, text, labels=["kind"])
            for name, value in sorted(table.items()):
                family.add_metric([name], value)
            yield family

        restarts = CounterMetricFamily(
            "clara_supervisor_restarts",
            "Restarts made by each supervisor since it started",
            labels=["supervisor"],
        )
        window = GaugeMetricFamily(
            "clara_supervisor_restarts_in_window",
            "Restarts inside each supervisor's intensity window",
            labels=["supervisor"],
        )
        states = GaugeMetricFamily(
            "clara_supervisors", "Supervisors by state", labels=["supervisor", "state"]
        )
        for supervisor in supervisors:
            restarts.add_metric([supervisor.path], supervisor.restarts)
            window.add_metric([supervisor.path], supervisor.restarts_in_window)
            states.add_metric([supervisor.path, supervisor.state.value], 1)
        yield from (restarts, window, states)

        letters = CounterMetricFamily(
            "clara_dead_letters", "Dead letters, by reason", labels=["reason"]
        )
        for reason, count in sorted(self._system.dead_letters.statistics().by_reason.items()):
            letters.add_metric([reason], count)
        yield letters
        for source in self._extra:  # the domains' own totals (the proactive engine's...)
            yield from source()
