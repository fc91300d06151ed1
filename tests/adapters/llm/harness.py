"""A fake model server on loopback, and providers pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from clara.adapters.llm import Anthropic, OpenAICompatible, Tier
from clara.testing import FakeLlmServer

MODELS = {Tier.HIGH: "big", Tier.MID: "medium", Tier.LOW: "small"}


@asynccontextmanager
async def fake_server() -> AsyncIterator[tuple[FakeLlmServer, str]]:
    server = FakeLlmServer()
    async with trio.open_nursery() as nursery:
        url = await nursery.start(server.serve)
        yield server, url
        nursery.cancel_scope.cancel()


def openai(url: str, name: str = "openai", key: str | None = "sk-test-key-123") -> OpenAICompatible:
    return OpenAICompatible(name, f"{url}/v1", key, MODELS)


def anthropic(url: str, name: str = "anthropic") -> Anthropic:
    return Anthropic("sk-ant-test-key", MODELS, base_url=url, name=name)
