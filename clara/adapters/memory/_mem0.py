"""Long-term memory through mem0 (a normal dependency, not vendored), over Qdrant.

mem0's ``Memory`` is synchronous and does HTTP and disk I/O: the memory actor calls it in a
worker thread. Embedded Qdrant (a folder) allows one client per folder per machine, so one
``Mem0Memory`` per process owns it. Telemetry is turned off before mem0 is imported.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Protocol

from ...config import Settings

__all__ = ["Mem0Memory", "MemoryStore", "mem0_config", "memory_user_id"]

logger = logging.getLogger(__name__)


def memory_user_id(platform: str, platform_user_id: str | int) -> str:
    """The one mapping from a platform user to a memory id, used everywhere.

    (The old bot's slash commands used a different id than its chat, so each saw different
    memories of the same person.)
    """
    return f"{platform}:{platform_user_id}"


class MemoryStore(Protocol):
    """What the memory actor needs; blocking calls, made from a worker thread."""

    def add(self, user_id: str, messages: list[dict[str, str]]) -> int:
        """Remember what is worth remembering in ``messages``; how many memories were made."""
        ...

    def search(self, user_id: str, query: str, limit: int) -> list[str]: ...

    def forget(self, user_id: str) -> None: ...


def mem0_config(settings: Settings) -> dict[str, Any]:
    """mem0's configuration from Clara's: its LLM, its embedder, its Qdrant, its history."""
    llm_settings = settings.llm
    data = settings.runtime.data_dir.resolve()
    chosen = next(
        (
            p
            for p in llm_settings.failover_order
            if p in ("openai", "openrouter", "nanogpt", "local")
        ),
        None,
    )
    if chosen is None:  # only Anthropic is configured
        key = llm_settings.key_of("anthropic")
        llm: dict[str, Any] = {
            "provider": "anthropic",
            "config": {
                "model": llm_settings.models_of("anthropic")["low"],
                "api_key": key.reveal() if key else None,
                "anthropic_base_url": llm_settings.anthropic_base_url,
            },
        }
    else:
        from ..llm._build import OPENAI_COMPATIBLE_URLS  # noqa: PLC0415

        base = {
            "openai": llm_settings.openai_base_url,
            "local": llm_settings.local_base_url,
        }.get(chosen) or OPENAI_COMPATIBLE_URLS[chosen]
        key = llm_settings.key_of(chosen)
        llm = {
            "provider": "openai",
            "config": {
                "model": llm_settings.models_of(chosen)["low"],
                "api_key": key.reveal() if key else "not-needed",
                "openai_base_url": base,
            },
        }
    memory = settings.memory
    openai_key = llm_settings.key_of("openai")
    use_openai = not memory.embedding_url and openai_key is not None
    embedding_url = memory.embedding_url or (
        llm_settings.openai_base_url if use_openai else llm_settings.local_base_url
    )
    embedding_model = memory.embedding_model or (
        "text-embedding-3-small" if use_openai else "nomic-embed-text"
    )
    dims = memory.embedding_dims or (1536 if use_openai else 768)
    vector_store: dict[str, Any]
    if memory.vector_store == "pgvector":
        assert settings.database.url is not None  # checked when the settings were read
        connection = settings.database.url.reveal().replace(
            "postgresql+psycopg://", "postgresql://"
        )
        vector_store = {
            "provider": "pgvector",
            "config": {
                "connection_string": connection,
                "collection_name": "clara_memories",
                "embedding_model_dims": dims,
            },
        }
    else:
        if memory.qdrant_url:
            store_config: dict[str, Any] = {"url": memory.qdrant_url}
            if memory.qdrant_api_key is not None:
                store_config["api_key"] = memory.qdrant_api_key.reveal()
        else:
            store_config = {"path": str(data / "qdrant"), "on_disk": True}
        vector_store = {
            "provider": "qdrant",
            "config": {
                **store_config,
                "collection_name": "clara_memories",
                "embedding_model_dims": dims,
            },
        }
    return {
        "vector_store": vector_store,
        "llm": llm,
        "embedder": {
            "provider": "openai",
            "config": {
                "model": embedding_model,
                "api_key": openai_key.reveal() if use_openai and openai_key else "not-needed",
                "openai_base_url": embedding_url,
                "embedding_dims": dims,
            },
        },
        "history_db_path": str(data / "memory-history.db"),
    }


#: What mem0, and the SDK clients it makes, read from the process environment to choose
#: where people's messages go and with which key, over what its configuration says:
#: ``OPENROUTER_API_KEY`` re-routes every extraction to OpenRouter; the base URLs and keys
#: stand in for what Clara passes; the OpenAI organisation and project are sent as headers.
#: Clara passes the endpoint and key of each part explicitly (``mem0_config``), so these are
#: taken out of the environment before mem0 is built (Clara read its own settings already).
MEM0_ROUTING_VARIABLES = (
    "OPENROUTER_API_KEY",
    "OPENROUTER_API_BASE",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_AUTH_TOKEN",
)


def _out_of_mem0s_sight() -> list[str]:
    """Remove ``MEM0_ROUTING_VARIABLES`` from the process environment; their names."""
    removed = [name for name in MEM0_ROUTING_VARIABLES if name in os.environ]
    for name in removed:
        del os.environ[name]
    return removed


class Mem0Memory:
    """A ``MemoryStore`` on mem0. Build it in a worker thread: opening Qdrant is I/O.

    Args:
        config: from ``mem0_config``.
        home: mem0's own folder (``MEM0_DIR``); it otherwise writes to ``~/.mem0``.
    """

    def __init__(self, config: dict[str, Any], home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        # mem0 reads these at import: no telemetry, and no writes outside our data folder.
        os.environ["MEM0_TELEMETRY"] = "False"
        os.environ["MEM0_DIR"] = str(home)
        removed = _out_of_mem0s_sight()
        if removed:
            logger.info(
                "memory: %s taken out of the environment, so that mem0 sends people's "
                "messages only where Clara's settings say",
                ", ".join(removed),
            )
        from mem0 import Memory  # noqa: PLC0415 - after the variables above, on purpose

        self._memory = Memory.from_config(config)

    def add(self, user_id: str, messages: list[dict[str, str]]) -> int:
        result = self._memory.add(messages, user_id=user_id)
        return len(result.get("results", [])) if isinstance(result, dict) else 0

    def search(self, user_id: str, query: str, limit: int) -> list[str]:
        result = self._memory.search(query, filters={"user_id": user_id}, top_k=limit)
        items = result.get("results", []) if isinstance(result, dict) else []
        return [str(item.get("memory", "")) for item in items if item.get("memory")]

    def forget(self, user_id: str) -> None:
        self._memory.delete_all(user_id=user_id)
