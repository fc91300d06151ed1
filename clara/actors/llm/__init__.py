"""The LLM gateway actor: providers in failover order, many calls in flight at once."""

from .gateway import CheckProviders, Complete, LlmGatewayActor, ReplyDelta

__all__ = ["CheckProviders", "Complete", "LlmGatewayActor", "ReplyDelta"]
