"""StatusContext: what the status endpoint reads, and what it keeps between requests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence

from prometheus_client.core import Metric

from ...actors import ActorSystem
from ...health import Readiness
from ...supervisors import SupervisorBase
from ._masking import Masker
from ._metrics import TreeMetrics
from ._stream import EncodingCache
from ._watch import TreeWatch

__all__ = ["StatusContext"]


class StatusContext:
    """What the status endpoint reads: the tree, the system, readiness, who we are.

    Args:
        root: returns the root supervisor (a callable: the root is built after its children).
        system: the actor system of that tree.
        readiness: the readiness checks of the process.
        version: Clara's version.
        started_at: the process start, ``time.time()``.
        oauth_callback: finishes an OAuth flow: ``(state, code, error)`` → the text to show
            the person whose browser was sent back (served at ``/oauth/callback``).
        secrets: every configured secret value (``Settings.secrets``): masked, with every
            token shape, in whatever the endpoint sends.
        metrics: the domains' own totals for ``/metrics`` (each a callable yielding metric
            families).
    """

    def __init__(
        self,
        root: Callable[[], SupervisorBase],
        system: ActorSystem,
        readiness: Readiness,
        *,
        version: str,
        started_at: float,
        oauth_callback: Callable[[str, str, str], Awaitable[str]] | None = None,
        secrets: Iterable[str] = (),
        metrics: Sequence[Callable[[], Iterable[Metric]]] = (),
    ) -> None:
        self.oauth_callback = oauth_callback
        self.extra_metrics = tuple(metrics)
        self.root = root
        self.system = system
        self.readiness = readiness
        self.version = version
        self.started_at = started_at
        self.masker = Masker(secrets)
        #: Counts lifecycle events while the endpoint runs, so the summary is counted again
        #: only when something changed (``StatusEndpoint`` starts and stops it).
        self.watch = TreeWatch()
        #: Encodings of the whole tree's nodes, and of the overview's.
        self.encodings = EncodingCache()
        self.overview_encodings = EncodingCache()
        self._metrics: TreeMetrics | None = None

    def metrics(self) -> TreeMetrics:
        if self._metrics is None:
            self._metrics = TreeMetrics(
                self.root(),
                self.system,
                version=self.version,
                started_at=self.started_at,
                masker=self.masker,
                extra=self.extra_metrics,
            )
        return self._metrics
