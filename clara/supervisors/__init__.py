"""Supervision: child specs, strategies, backoff, Supervisor and DynamicSupervisor.

The vocabulary is Erlang/OTP's (child spec, permanent / transient / temporary, one_for_one /
one_for_all / rest_for_one, max_restarts within max_seconds) with Akka's backoff.
"""

from ._base import SupervisorBase
from ._child import Census, ChildSummary, SupervisorStatistics
from ._closing import ResourceOwner, closing_child
from ._dynamic import DynamicSupervisor, InMemorySnapshotStore, SnapshotStore
from ._process import EXIT_FAILED, EXIT_OK, freeze_startup_objects, serve_until_signal
from ._spec import Backoff, ChildSpec, Restart, RestartIntensity, Strategy
from ._supervisor import Supervisor

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "Backoff",
    "Census",
    "ChildSpec",
    "ChildSummary",
    "DynamicSupervisor",
    "InMemorySnapshotStore",
    "ResourceOwner",
    "Restart",
    "RestartIntensity",
    "SnapshotStore",
    "Strategy",
    "Supervisor",
    "SupervisorBase",
    "SupervisorStatistics",
    "closing_child",
    "freeze_startup_objects",
    "serve_until_signal",
]
