"""MCP servers in Clara: the catalog of configured servers, their actors, their tools.

``/clara/mcp`` is a supervisor with two children:

- ``catalog``, the ``McpCatalogActor``: the one writer of the configured servers (the store's
  ``mcp_servers`` rows). It installs (validate, install, test-start, save), uninstalls,
  enables, disables and restarts; it runs OAuth flows for remote servers; it keeps each
  server's last tool list, so tools are offered to the model before a server ever runs.
  Readers see an immutable snapshot, ``McpCatalog.entries``, swapped whole on each change.
- ``servers``, a DynamicSupervisor of ``McpServerActor`` keyed by server name: started on a
  tool's first call, passivated after ``idle_seconds`` unused (which stops the process),
  at most ``max_running`` at once (the least recently idle one makes room), restarted with
  backoff after a crash.

``McpServerTools`` is what the tool loop sees: one provider per enabled server, named after
it, so its tools reach the model as ``server__tool``. A call to a server that is down fails
at once with a tool error saying so (and when it will be tried again); other servers are
not affected.
"""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
import trio

from ..adapters.llm import ToolSpec
from ..adapters.mcp import (
    REFRESH_MARGIN,
    BearerAuth,
    McpEndpoint,
    OAuthClient,
    OAuthError,
    ServerGone,
    ToolCallFailed,
    text_of,
)
from ..errors import ClaraError, TooManyChildren
from ..store import (
    Database,
    McpServerConfig,
    McpToolRecord,
    SecretBox,
    load_oauth_credentials,
    save_oauth_credentials,
)
from ..supervisors import DynamicSupervisor
from ..tools import ToolFile, ToolOutput
from ._statistics import ActorState
from .mcp_server import CallTool, ToolTimeout

__all__ = [
    "RESERVED_NAMES",
    "CatalogEntry",
    "McpCatalog",
    "McpServerTools",
    "ServerTokens",
    "ToolUnavailable",
    "endpoint_of",
    "valid_server_name",
    "with_env",
    "with_env_names",
]

logger = logging.getLogger(__name__)

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


class ToolUnavailable(ClaraError):
    """The server of a tool is down (restarting after a crash) or cannot be started now."""


class CatalogEntry(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    source: str
    enabled: bool
    config: McpServerConfig


class McpCatalog:
    """The configured servers, as the catalog actor last published them (read-only here)."""

    def __init__(self, entries: Mapping[str, CatalogEntry] | None = None) -> None:
        self.entries: Mapping[str, CatalogEntry] = dict(entries or {})

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


class ServerTokens:
    """The access token of one OAuth server: read from the store, refreshed before expiry.

    A token with less than five minutes left (``REFRESH_MARGIN``) is refreshed first, and
    the new tokens are saved (encrypted) before they are used. Concurrent requests share
    one refresh.
    """

    def __init__(
        self,
        server: str,
        resource: str,
        database: Database,
        secrets: SecretBox,
        oauth: Callable[[], OAuthClient],
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.server = server
        self.resource = resource
        self._database = database
        self._secrets = secrets
        self._oauth = oauth
        self._now = now
        self._lock = trio.Lock()
        self.refreshes = 0

    async def __call__(self, force: bool = False) -> str:
        async with self._lock:
            credentials = await self._database.run(
                load_oauth_credentials, self._secrets, self.server
            )
            if credentials is None:
                raise ServerGone(f"{self.server}: not authorized (no tokens): install it again")
            expires = credentials.expires_at
            due = expires is not None and expires.timestamp() - self._now() < REFRESH_MARGIN
            if not (force or due):
                return credentials.access_token
            if not credentials.refresh_token or not credentials.token_endpoint:
                if force or (expires is not None and expires.timestamp() <= self._now()):
                    raise ServerGone(
                        f"{self.server}: the access token expired and cannot be refreshed"
                    )
                return credentials.access_token
            try:
                tokens = await self._oauth().refresh(
                    credentials.token_endpoint,
                    credentials.refresh_token,
                    client_id=credentials.client_id,
                    client_secret=credentials.client_secret,
                    resource=self.resource,
                )
            except OAuthError as error:
                raise ServerGone(f"{self.server}: {error}") from error
            self.refreshes += 1
            updated = msgspec.structs.replace(
                credentials,
                access_token=tokens.access_token,
                refresh_token=tokens.refresh_token,
                expires_at=tokens.expires_at,
                scope=tokens.scope or credentials.scope,
            )
            await self._database.run(save_oauth_credentials, self._secrets, self.server, updated)
            logger.info("mcp %s: access token refreshed", self.server)
            return tokens.access_token

    def auth(self) -> BearerAuth:
        return BearerAuth(self)


class McpServerTools:
    """One server's tools for the tool loop; calls go to its actor (started on demand)."""

    def __init__(
        self,
        entry: CatalogEntry,
        servers: Callable[[], DynamicSupervisor],
        *,
        now: Callable[[], float] = trio.current_time,
    ) -> None:
        self.entry = entry
        self._servers = servers
        self._now = now

    @property
    def name(self) -> str:
        return self.entry.name

    def specs(self) -> list[ToolSpec]:
        return [
            ToolSpec(name=tool.name, description=tool.description, parameters=tool.parameters)
            for tool in self.entry.config.tools
        ]

    async def call(self, tool: str, arguments: dict[str, Any]) -> str | ToolOutput:
        supervisor = self._servers()
        name = self.entry.name
        ref = supervisor.get(name)
        if ref is not None:
            stats = ref.statistics()
            if stats.state in (ActorState.BACKING_OFF, ActorState.FAILED):
                why = stats.last_failure.message if stats.last_failure else "it crashed"
                again = ""
                if stats.backoff is not None and stats.backoff.next_start_in is not None:
                    again = f"; it restarts in {stats.backoff.next_start_in:.1f}s"
                raise ToolUnavailable(f"the MCP server {name} is down ({why}){again}")
        else:
            try:
                ref = await supervisor.get_or_start(name)
            except TooManyChildren as error:
                raise ToolUnavailable(
                    f"the MCP server {name} cannot start now: {supervisor.max_children} servers "
                    "are running and busy (CLARA_MCP_MAX_RUNNING)"
                ) from error
        try:
            result = await ref.ask(CallTool(tool=tool, arguments=arguments), timeout=None)
        except (ServerGone, ToolTimeout, ToolCallFailed) as error:
            raise ToolUnavailable(str(error)) from error
        text = text_of(result)
        if result.is_error:
            raise ToolCallFailed(text or "the tool reported an error")
        files = _files_of(tool, result)
        return ToolOutput(text=text, files=files) if files else text


def _files_of(tool: str, result: Any) -> list[ToolFile]:
    """Images and audio a tool returned, as files to send with the reply."""
    files: list[ToolFile] = []
    for index, item in enumerate(result.content):
        mime = getattr(item, "mime_type", None)
        data = getattr(item, "data", None)
        if not isinstance(mime, str) or not isinstance(data, str):
            continue
        try:
            raw = base64.b64decode(data, validate=True)
        except ValueError:
            continue
        extension = mime.split("/")[-1].split("+")[0][:8] or "bin"
        files.append(ToolFile(name=f"{tool}-{index + 1}.{extension}", data=raw))
    return files
