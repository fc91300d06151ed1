"""The ``status`` child of the root: the endpoint that shows the live tree."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence

from prometheus_client.core import Metric

import clara

from ...adapters.http import StatusContext
from ...config import StatusSettings
from ...health import Readiness
from ...supervisors import ChildSpec
from .. import ActorSystem
from .endpoint import StatusEndpoint

__all__ = ["status_subsystem"]


def status_subsystem(
    settings: StatusSettings,
    system: ActorSystem,
    readiness: Readiness,
    *,
    started_at: float,
    oauth_callback: Callable[[str, str, str], Awaitable[str]] | None = None,
    secrets: Iterable[str] = (),
    metrics: Sequence[Callable[[], Iterable[Metric]]] = (),
) -> ChildSpec | None:
    """The endpoint's spec, or None when it is turned off (``CLARA_STATUS_ENABLED``).

    It shows the tree ``system`` runs (``system.root``, set when the root starts) and serves
    ``/oauth/callback`` with ``oauth_callback`` (the MCP catalog's) when given.

    Args:
        secrets: every configured secret value (``Settings.secrets``): none of them, and no
            token-shaped string, appears in anything the endpoint sends. Token shapes are
            masked without them too.
    """
    if not settings.enabled:
        return None
    context = StatusContext(
        lambda: system.root,
        system,
        readiness,
        version=clara.__version__,
        started_at=started_at,
        oauth_callback=oauth_callback,
        secrets=secrets,
        metrics=metrics,
    )
    return ChildSpec("status", lambda: StatusEndpoint(settings, context), mailbox_capacity=100)
