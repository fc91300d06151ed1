"""McpCatalogActor: the one writer of Clara's configured MCP servers.

Installs go: check the source's grammar and the allow-list → install (an argument list,
under a time limit) → test-start the server and list its tools → save. A remote server that
answers 401 starts an OAuth flow instead: the install is answered with the link to open, and
it finishes when the authorization server sends the code back (``OAuthCallback``), or is
abandoned 30 minutes later. Nothing is saved until the server has started and listed its
tools; a failed install removes what it made (folder, tokens).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import trio

from ...adapters.llm import ToolSpec
from ...adapters.mcp import (
    FLOW_TIMEOUT,
    BearerAuth,
    FlowState,
    Installer,
    InstallError,
    InvalidTransition,
    McpEndpoint,
    NeedsAuthorization,
    OAuthClient,
    OAuthError,
    OAuthFlow,
    Reaper,
    SourceError,
    check_allowed,
    parse_source,
    test_start,
)
from ...config import McpSettings
from ...errors import ClaraError, McpOperationError
from ...store import (
    Database,
    McpServerConfig,
    OAuthCredentials,
    SecretBox,
    delete_mcp_server,
    load_mcp_servers,
    save_mcp_server,
    save_mcp_server_secrets,
    save_oauth_credentials,
    set_mcp_server_enabled,
)
from ...supervisors import DynamicSupervisor
from .. import Actor, DeferredReply
from ..policy import write_audit
from .entries import (
    CatalogEntry,
    McpCatalog,
    tool_records,
    valid_server_name,
    with_env,
    with_env_names,
)
from .server import ToolsListed

__all__ = [
    "AbandonFlow",
    "CatalogDependencies",
    "Install",
    "InstallOutcome",
    "McpCatalogActor",
    "McpOperationError",
    "OAuthCallback",
    "RestartServer",
    "SetEnabled",
    "Uninstall",
]

logger = logging.getLogger(__name__)


class Install(msgspec.Struct, frozen=True, kw_only=True):
    """Ask: install a server. Answered with an ``InstallOutcome``; fails with a ClaraError."""

    source: str
    name: str = ""
    by: str = ""
    users: tuple[str, ...] = ()
    """Who may manage it (besides being an administrator); empty: every administrator."""
    roles: tuple[str, ...] = ()
    env: dict[str, str] = msgspec.field(default_factory=dict)
    """Secret environment variables the server needs (API keys): stored encrypted."""


class InstallOutcome(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    tools: list[str] = msgspec.field(default_factory=list)
    authorize_url: str | None = None
    """Set when the server needs OAuth first: the link to open (valid 30 minutes)."""


class Uninstall(msgspec.Struct, frozen=True):
    name: str


class SetEnabled(msgspec.Struct, frozen=True):
    name: str
    enabled: bool


class RestartServer(msgspec.Struct, frozen=True):
    name: str


class OAuthCallback(msgspec.Struct, frozen=True, kw_only=True):
    """Ask: the authorization server sent someone back. Answered with the text to show them."""

    state: str
    code: str = ""
    error: str = ""


class AbandonFlow(msgspec.Struct, frozen=True):
    """Timer: a flow's 30 minutes are up."""

    key: str


@dataclass
class CatalogDependencies:
    catalog: McpCatalog
    settings: McpSettings
    installer: Installer
    servers: DynamicSupervisor
    database: Database | None = None
    secrets: SecretBox | None = None
    reaper: Reaper | None = None
    redirect_url: str = ""
    path_roots: tuple[str, ...] = ()
    oauth: Callable[[], OAuthClient] | None = None
    """The OAuth client (over the subtree's one HTTP client, made on first use)."""


@dataclass
class _Pending:
    flow: OAuthFlow
    endpoint: McpEndpoint
    source: str
    install: Install

    @property
    def by(self) -> str:
        return self.install.by


class McpCatalogActor(Actor):
    def __init__(self, deps: CatalogDependencies) -> None:
        self.deps = deps
        self.entries: dict[str, CatalogEntry] = dict(deps.catalog.entries)
        self._busy: set[str] = set()
        self.pending: dict[str, _Pending] = {}
        self.problems = 0

    # -- life -------------------------------------------------------------------------------

    async def on_start(self) -> None:
        database = self.deps.database
        if database is not None:
            stored, problems = await database.run(load_mcp_servers)
            self.problems = len(problems)
            self.entries = {
                server.name: CatalogEntry(
                    name=server.name,
                    source=server.source,
                    enabled=server.enabled,
                    config=server.config,
                )
                for server in stored
            }
        self._publish()

    def _publish(self) -> None:
        self.deps.catalog.publish(self.entries)

    def _oauth(self) -> OAuthClient:
        if self.deps.oauth is None:
            raise McpOperationError("OAuth is not available here (no HTTP client configured)")
        return self.deps.oauth()

    # -- messages ---------------------------------------------------------------------------

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, ToolsListed):
            await self._tools_listed(message)
            return None
        if isinstance(message, AbandonFlow):
            await self._abandon(message.key)
            return None
        if isinstance(message, Install):
            reply = self.context.defer()
            self.context.start_task(self._install_task, message, reply, name="install")
            return None
        if isinstance(message, OAuthCallback | Uninstall | SetEnabled | RestartServer):
            # A refused operation is an answer, not a crash: the asker gets the error.
            reply = self.context.defer()
            try:
                reply.reply(await self._operate(message))
            except ClaraError as error:
                reply.fail(error)
            return None
        raise TypeError(f"McpCatalogActor does not handle {type(message).__name__}")

    async def _operate(self, message: Any) -> str:
        if isinstance(message, OAuthCallback):
            return await self._callback(message)
        if isinstance(message, Uninstall):
            return await self._uninstall(message.name)
        if isinstance(message, SetEnabled):
            return await self._set_enabled(message.name, message.enabled)
        entry = self._entry(message.name)
        await self._stop_server(entry.name)
        # Stopping the child forgets its backoff (the operator's explicit act: the next use
        # starts it at once); its history (the catalog's ServerHealth) is kept.
        return (
            f"{entry.name} is stopped and starts again on its next use, at once: its backoff "
            "is cleared (its history stays in /mcp status)."
        )

    def _entry(self, name: str) -> CatalogEntry:
        entry = self.entries.get(name)
        if entry is None:
            known = ", ".join(sorted(self.entries)) or "none"
            raise McpOperationError(f"there is no MCP server named {name!r} (installed: {known})")
        return entry

    async def _stop_server(self, name: str) -> None:
        servers = self.deps.servers
        if servers.get(name) is not None:
            await servers.terminate_child(name)

    async def _save(self, entry: CatalogEntry, env: dict[str, str] | None = None) -> None:
        if env:
            assert self.deps.database is not None and self.deps.secrets is not None
            await self.deps.database.run(
                save_mcp_server_secrets, self.deps.secrets, entry.name, env
            )
        if self.deps.database is not None:
            await self.deps.database.run(
                lambda session: save_mcp_server(
                    session,
                    name=entry.name,
                    source=entry.source,
                    config=entry.config,
                    enabled=entry.enabled,
                )
            )
        self.entries[entry.name] = entry
        self._publish()

    async def _tools_listed(self, message: ToolsListed) -> None:
        entry = self.entries.get(message.server)
        if entry is None:
            return
        records = tool_records(message.tools)
        if records == entry.config.tools:
            return
        config = msgspec.structs.replace(entry.config, tools=records)
        await self._save(msgspec.structs.replace(entry, config=config))
        logger.info("mcp %s: tool list changed (%d tools)", entry.name, len(records))

    async def _set_enabled(self, name: str, enabled: bool) -> str:
        entry = self._entry(name)
        if self.deps.database is not None:
            await self.deps.database.run(set_mcp_server_enabled, name, enabled)
        self.entries[name] = msgspec.structs.replace(entry, enabled=enabled)
        self._publish()
        if not enabled:
            await self._stop_server(name)
        return f"{name} is {'enabled' if enabled else 'disabled'}."

    async def _uninstall(self, name: str) -> str:
        entry = self._entry(name)
        await self._stop_server(name)
        if self.deps.database is not None:
            await self.deps.database.run(delete_mcp_server, name)
        self.entries.pop(name, None)
        self.deps.catalog.health.forget(name)
        self._publish()
        await self.deps.installer.remove(entry.config.install_dir)
        return f"{name} is uninstalled (its tokens and files are gone)."

    # -- install ----------------------------------------------------------------------------

    async def _install_task(self, message: Install, reply: DeferredReply) -> None:
        try:
            outcome = await self._install(message)
        except ClaraError as error:
            reply.fail(error)
        except Exception as error:  # an installer bug must not crash the catalog
            logger.exception("installing %r failed", message.source)
            reply.fail(McpOperationError(f"installation failed: {type(error).__name__}: {error}"))
        else:
            reply.reply(outcome)

    async def _install(self, message: Install) -> InstallOutcome:
        settings = self.deps.settings
        source = parse_source(
            message.source, path_roots=self.deps.path_roots, kinds=settings.allowed_sources
        )
        check_allowed(source, settings.allowed_sources, settings.allow)
        name = message.name or source.suggested_name
        problem = valid_server_name(name)
        if problem is not None:
            raise SourceError(problem)
        if name in self.entries or name in self._busy:
            raise McpOperationError(f"an MCP server named {name!r} exists already")
        self._busy.add(name)
        try:
            if message.env and (self.deps.database is None or self.deps.secrets is None):
                raise McpOperationError("secret environment variables need the store")
            if message.env and source.kind == "url":
                raise McpOperationError("a remote server takes no environment variables")
            deadline = trio.current_time() + settings.install_timeout
            endpoint, folder = await self.deps.installer.install(name, source)
            if source.kind == "image":
                endpoint = with_env_names(endpoint, message.env)
            try:
                remaining = max(1.0, deadline - trio.current_time())
                try:
                    tools = await test_start(
                        with_env(endpoint, message.env),
                        timeout=remaining,
                        reaper=self.deps.reaper,
                    )
                except NeedsAuthorization as needs:
                    return await self._start_flow(name, endpoint, source.canonical, message, needs)
                await self._save(
                    self._new_entry(
                        name,
                        source=source.canonical,
                        endpoint=endpoint,
                        tools=tools,
                        install=message,
                        folder=folder,
                    ),
                    message.env,
                )
                folder = None  # kept: it is the server's now
                return InstallOutcome(name=name, tools=[tool.name for tool in tools])
            finally:
                if folder is not None:
                    await self.deps.installer.remove(folder)
        finally:
            self._busy.discard(name)

    def _new_entry(
        self,
        name: str,
        *,
        source: str,
        endpoint: McpEndpoint,
        tools: list[ToolSpec],
        install: Install,
        folder: str | None,
        oauth: bool = False,
        client_id: str = "",
    ) -> CatalogEntry:
        config = McpServerConfig(
            transport=endpoint.transport,
            command=endpoint.command,
            args=list(endpoint.args),
            env=dict(endpoint.env),
            cwd=endpoint.cwd,
            url=endpoint.url,
            call_timeout=self.deps.settings.call_timeout,
            tools=tool_records(tools),
            install_dir=folder,
            installed_by=install.by,
            allowed_users=list(install.users),
            allowed_roles=list(install.roles),
            secret_env=sorted(install.env),
            oauth=oauth,
            oauth_client_id=client_id,
        )
        return CatalogEntry(name=name, source=source, enabled=True, config=config)

    # -- OAuth ------------------------------------------------------------------------------

    async def _start_flow(
        self,
        name: str,
        endpoint: McpEndpoint,
        source: str,
        install: Install,
        needs: NeedsAuthorization,
    ) -> InstallOutcome:
        by = install.by
        if self.deps.database is None or self.deps.secrets is None:
            raise McpOperationError(f"{name} needs OAuth, which needs the store to keep tokens")
        if not self.deps.redirect_url:
            raise McpOperationError(f"{name} needs OAuth, and no redirect URL is configured")
        assert endpoint.url is not None
        flow = OAuthFlow(
            name,
            endpoint.url,
            self.deps.redirect_url,
            started_at=trio.current_time(),
            started_by=by,
        )
        oauth = self._oauth()
        await oauth.discover(flow, needs.www_authenticate)
        await oauth.register(flow)
        link = flow.authorization_url()
        self.pending[flow.key] = _Pending(
            flow=flow, endpoint=endpoint, source=source, install=install
        )
        self._busy.add(name)  # held until the flow ends
        self.context.send_after(FLOW_TIMEOUT, AbandonFlow(flow.key))
        logger.info("mcp %s: waiting for authorization (flow started by %s)", name, by)
        return InstallOutcome(name=name, authorize_url=link)

    def _end_flow(self, key: str) -> _Pending | None:
        pending = self.pending.pop(key, None)
        if pending is not None:
            self._busy.discard(pending.flow.server)
            # Forget the flow's secrets with it.
            pending.flow.verifier = ""
            pending.flow.client_secret = None
        return pending

    async def _abandon(self, key: str) -> None:
        pending = self.pending.get(key)
        if pending is None or pending.flow.finished:
            return
        if pending.flow.state is FlowState.EXCHANGING:
            return  # the code came back just in time; the exchange finishes it
        pending.flow.advance(FlowState.ABANDONED, "no code came back within 30 minutes")
        self._end_flow(key)
        logger.info("mcp %s: authorization abandoned after 30 minutes", pending.flow.server)
        await self._audit(pending.by, "mcp.authorize", pending.flow.server, "abandoned", {})

    async def _callback(self, message: OAuthCallback) -> str:
        pending = self.pending.get(message.state)
        if pending is None:
            return "This sign-in link is unknown or has expired. Start the installation again."
        flow = pending.flow
        if message.error:
            flow.advance(FlowState.FAILED, message.error)
            self._end_flow(message.state)
            await self._audit(
                pending.by, "mcp.authorize", flow.server, "refused", {"error": message.error[:200]}
            )
            return f"Authorization for {flow.server} was refused ({message.error[:100]})."
        if not message.code:
            return "The authorization server sent no code back."
        try:
            tokens = await self._oauth().exchange(flow, message.code)
        except InvalidTransition as error:
            return str(error)
        except OAuthError as error:
            self._end_flow(message.state)
            await self._audit(
                pending.by, "mcp.authorize", flow.server, "failed", {"error": str(error)[:200]}
            )
            return f"Authorization for {flow.server} failed: {error}"
        assert self.deps.database is not None and self.deps.secrets is not None
        assert flow.auth_server is not None
        credentials = OAuthCredentials(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_at=tokens.expires_at,
            scope=tokens.scope,
            client_id=flow.client_id,
            client_secret=flow.client_secret,
            token_endpoint=flow.auth_server.token_endpoint,
        )
        name = flow.server
        self._end_flow(message.state)
        await self.deps.database.run(save_oauth_credentials, self.deps.secrets, name, credentials)

        async def token(force: bool) -> str:
            return tokens.access_token

        try:
            tools = await test_start(
                with_env(pending.endpoint, pending.install.env),
                timeout=self.deps.settings.install_timeout,
                reaper=self.deps.reaper,
                auth=BearerAuth(token),
            )
        except InstallError as error:
            await self.deps.database.run(delete_mcp_server, name)  # the tokens with it
            await self._audit(
                pending.by, "mcp.install", name, "failed", {"error": str(error)[:200]}
            )
            return f"Authorized, but {name} did not start: {error}"
        entry = self._new_entry(
            name,
            source=pending.source,
            endpoint=pending.endpoint,
            tools=tools,
            install=pending.install,
            folder=None,
            oauth=True,
            client_id=credentials.client_id,
        )
        await self._save(entry)
        await self._audit(
            pending.by, "mcp.install", name, "done", {"tools": len(tools), "oauth": True}
        )
        return f"Clara is connected to {name} ({len(tools)} tools). You can close this page."

    async def _audit(
        self, by: str, action: str, target: str, outcome: str, details: dict[str, Any]
    ) -> None:
        await write_audit(
            self.deps.database,
            actor=by or "-",
            action=action,
            target=target,
            outcome=outcome,
            details=details,
        )

    def describe(self) -> dict[str, Any] | None:
        return {
            "servers": len(self.entries),
            "enabled": sum(1 for entry in self.entries.values() if entry.enabled),
            "installing": len(self._busy) - len(self.pending),
            "awaiting_authorization": len(self.pending),
            "unreadable_records": self.problems,
            # Each server's totals since Clara started, whether it runs now or not.
            "history": self.deps.catalog.health.describe(trio.current_time()),
        }
