"""Providers from the settings, in failover order."""

from __future__ import annotations

import httpx

from ...config import LlmSettings
from ._anthropic import Anthropic
from ._openai import OpenAICompatible
from ._provider import Provider
from ._types import Tier

__all__ = ["OPENAI_COMPATIBLE_URLS", "build_providers"]

#: Base URLs of the OpenAI-compatible services that have no setting of their own.
OPENAI_COMPATIBLE_URLS = {
    "openrouter": "https://openrouter.ai/api/v1",
    "nanogpt": "https://nano-gpt.com/api/v1",
}

#: OpenRouter shows apps by these (its attribution headers).
OPENROUTER_HEADERS = {"X-Title": "Clara"}


def _tiers(settings: LlmSettings, provider: str) -> dict[Tier, str]:
    return {Tier(tier): model for tier, model in settings.models_of(provider).items()}


def build_providers(
    settings: LlmSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> list[Provider]:
    """Every provider of ``settings.failover_order``, each with an HTTP client of its own."""

    def client() -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=transport, limits=httpx.Limits(max_connections=50), http2=False
        )

    providers: list[Provider] = []
    for name in settings.failover_order:
        models = _tiers(settings, name)
        key = settings.key_of(name)
        if name == "anthropic":
            assert key is not None
            providers.append(
                Anthropic(
                    key.reveal(), models, base_url=settings.anthropic_base_url, client=client()
                )
            )
            continue
        if name == "openai":
            base = settings.openai_base_url
        elif name == "local":
            base = settings.local_base_url
        else:
            base = OPENAI_COMPATIBLE_URLS[name]
        providers.append(
            OpenAICompatible(
                name,
                base,
                key.reveal() if key is not None else None,
                models,
                headers=OPENROUTER_HEADERS if name == "openrouter" else None,
                client=client(),
            )
        )
    return providers
