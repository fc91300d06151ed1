"""The catalog of configured MCP servers, as readers see it: entries, names, endpoints.

The ``McpCatalogActor`` (``catalog.py``) is the one writer; everyone else reads
``McpCatalog.entries``, an immutable snapshot swapped whole on each change. The catalog also
holds each server's ``ServerHealth`` (``McpCatalog.health``): it lives as long as the server
is installed, longer than any incarnation of the server's actor.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec

from ...adapters.llm import ToolSpec
from ...adapters.mcp import McpEndpoint
from ...store import McpServerConfig, McpToolRecord
from .health import McpHealth

__all__ = [
    "RESERVED_NAMES",
    "CatalogEntry",
    "McpCatalog",
    "endpoint_of",
    "tool_records",
    "valid_server_name",
    "with_env",
    "with_env_names",
]

RESERVED_NAMES = frozenset({"clara", "mcp", "sandbox", "builtin"})
"""Names of Clara's own tool providers: no server may take them."""
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def valid_server_name(name: str) -> str | None:
    """None if ``name`` can name a server, else what is wrong with it."""
    if not _NAME.match(name):
        return (
            f"server name {name!r}: 1 to 40 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    if name in RESERVED_NAMES:
        return f"server name {name!r} is reserved"
    return None


class CatalogEntry(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    source: str
    enabled: bool
    config: McpServerConfig


class McpCatalog:
    """The configured servers, as the catalog actor last published them (read-only here),
    and what each has been through (``health``: totals kept across restarts)."""

    def __init__(self, entries: Mapping[str, CatalogEntry] | None = None) -> None:
        self.entries: Mapping[str, CatalogEntry] = dict(entries or {})
        self.health = McpHealth()

    def publish(self, entries: Mapping[str, CatalogEntry]) -> None:
        """Swap in a new snapshot (only the catalog actor calls this)."""
        self.entries = dict(entries)

    def enabled(self) -> list[CatalogEntry]:
        return [entry for entry in self.entries.values() if entry.enabled]


def endpoint_of(entry: CatalogEntry, *, connect_timeout: float = 60.0) -> McpEndpoint:
    """How to reach a catalog entry's server."""
    config = entry.config
    return McpEndpoint(
        name=entry.name,
        transport=config.transport,
        command=config.command,
        args=tuple(config.args),
        env=dict(config.env),
        cwd=config.cwd,
        url=config.url,
        connect_timeout=connect_timeout,
    )


def with_env(endpoint: McpEndpoint, env: dict[str, str]) -> McpEndpoint:
    """``endpoint`` with ``env`` (secret values: never stored in the configuration)."""
    if not env:
        return endpoint
    return msgspec.structs.replace(endpoint, env={**endpoint.env, **env})


def with_env_names(endpoint: McpEndpoint, env: dict[str, str]) -> McpEndpoint:
    """For a server run by a container engine, ``-e NAME`` for each variable: the container
    gets the value from the engine's own environment, so it never appears on a command line."""
    if not env:
        return endpoint
    *options, image = endpoint.args
    names = [part for name in sorted(env) for part in ("-e", name)]
    return msgspec.structs.replace(endpoint, args=(*options, *names, image))


def tool_records(tools: list[ToolSpec]) -> list[McpToolRecord]:
    return [
        McpToolRecord(name=tool.name, description=tool.description, parameters=tool.parameters)
        for tool in tools
    ]
