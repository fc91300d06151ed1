"""The proactive engine's totals for ``/metrics``: counters that never go down in a process,
labelled by what the code names (a decision, a state), never by a person."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

__all__ = ["ProactiveTotals"]


class ProactiveTotals:
    """Checks by outcome, counted by the person actors; the rest is read from the delivery
    and the activity sink when ``/metrics`` is asked."""

    def __init__(self) -> None:
        self.checks: Counter[str] = Counter()
        """By decision: WAIT, THINK, SPEAK, or why no model was asked (quiet, off)."""
        self.invalid = 0

    def count(self, decision: str, *, valid: bool) -> None:
        self.checks[decision] += 1
        if not valid:
            self.invalid += 1

    def families(
        self,
        *,
        delivered: int,
        failed: int,
        expired: int,
        activities: int,
        dropped: int,
        live_people: int,
    ) -> Iterator[Metric]:
        checks = CounterMetricFamily(
            "clara_proactive_checks", "Proactive checks by outcome", labels=["decision"]
        )
        for decision, count in sorted(self.checks.items()):
            checks.add_metric([decision], count)
        yield checks
        invalid = CounterMetricFamily(
            "clara_proactive_invalid_answers", "Model answers that were not a valid decision"
        )
        invalid.add_metric([], self.invalid)
        yield invalid
        messages = CounterMetricFamily(
            "clara_proactive_messages", "Proactive messages by how they ended", labels=["state"]
        )
        for state, count in (("delivered", delivered), ("failed", failed), ("expired", expired)):
            messages.add_metric([state], count)
        yield messages
        seen = CounterMetricFamily(
            "clara_proactive_activities",
            "Messages people wrote, handed to the proactive engine",
            labels=["outcome"],
        )
        seen.add_metric(["written"], activities)
        seen.add_metric(["dropped"], dropped)
        yield seen
        people = GaugeMetricFamily("clara_proactive_people_live", "Person actors running now")
        people.add_metric([], live_people)
        yield people
