"""Readiness as the endpoint shows it: on /readyz, and at the top of /status and the page.

The checks themselves are ``clara.health.Readiness`` (each adapter registers its own);
this only gathers their answers, adds the tree's own state, and masks the reasons: a
reason may quote an error from outside (a provider's, a database's), and what a provider
or a proxy in front of it echoes can hold a key and what a person wrote.
"""

from __future__ import annotations

from ...actors import ActorState
from ...health import Readiness
from ...supervisors import SupervisorBase
from ._document import ReadinessView
from ._masking import Masker

__all__ = ["readiness_view"]


def readiness_view(root: SupervisorBase, readiness: Readiness, masker: Masker) -> ReadinessView:
    """Ready when the root supervisor runs and every check passes; else the reasons."""
    reasons: dict[str, str] = {}
    if root.state is not ActorState.RUNNING:
        reasons["tree"] = f"the root supervisor is {root.state.value}"
    for name, reason in readiness.evaluate().items():
        if reason is not None:
            reasons[masker.text(name)] = masker.text(str(reason))
    details = {
        masker.text(name): masker.value(detail) for name, detail in readiness.details().items()
    }
    return ReadinessView(ready=not reasons, reasons=reasons, details=details)
