"""The ``llm`` child of the root: the gateway actor over the configured providers."""

from __future__ import annotations

from ...adapters.llm import Gateway, build_providers
from ...config import LlmSettings
from ...health import Readiness
from ...supervisors import ChildSpec
from .. import ActorRef
from .gateway import LlmGatewayActor

__all__ = ["llm_problem", "llm_subsystem"]


def llm_subsystem(settings: LlmSettings, readiness: Readiness) -> ChildSpec:
    """The gateway actor's spec; ``/readyz`` reports ``llm`` when no provider answers.

    Each incarnation builds a fresh gateway (and so fresh HTTP clients and breakers).
    """
    spec = ChildSpec(
        "llm",
        lambda: LlmGatewayActor(
            lambda: Gateway(
                build_providers(settings),
                call_timeout=settings.timeout,
                breaker_threshold=settings.breaker_threshold,
                breaker_cooldown=settings.breaker_cooldown,
            )
        ),
        mailbox_capacity=1000,
    )
    gateway = spec.ref
    readiness.register("llm", lambda: llm_problem(gateway))
    return spec


def llm_problem(gateway: ActorRef) -> str | None:
    """None while some provider answers (or none was probed yet), else why none does."""
    details = gateway.statistics().details or {}
    providers = details.get("providers", [])
    if not providers or any(provider["up"] for provider in providers):
        return None
    return "no model provider answers: " + "; ".join(
        p["breaker"]["last_error"] or f"{p['name']}: {p['breaker']['state']}" for p in providers
    )
