"""What to tell a person when no model answered: short, and naming what to set."""

from __future__ import annotations

from ...config import LlmSettings
from ...errors import NoProviderAvailable

__all__ = ["explain_unavailable"]


def explain_unavailable(error: NoProviderAvailable, settings: LlmSettings) -> str:
    """One or two sentences for the chat, never a traceback and never a key."""
    keyed = [p for p in settings.failover_order if p != "local"]
    if not keyed:
        return (
            "I can't think right now: no language model is configured, and nothing answers "
            f"at {settings.local_base_url}. Set OPENROUTER_API_KEY, ANTHROPIC_API_KEY or "
            "OPENAI_API_KEY (or start a local server such as Ollama there), then try again."
        )
    names = ", ".join(error.reasons) or ", ".join(settings.failover_order)
    return (
        f"I can't reach a language model right now ({names} did not answer). "
        "Please try again in a moment; the operator can see why on the status page."
    )
