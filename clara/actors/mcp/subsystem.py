"""The ``/clara/mcp`` subtree, built from settings: catalog, servers, reaper, tools, admin."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx

from ...adapters.chat import Author
from ...adapters.mcp import Installer, OAuthClient, Reaper
from ...config import Settings
from ...errors import ClaraError
from ...store import Database, SecretBox, load_mcp_server_secrets
from ...supervisors import (
    Backoff,
    ChildSpec,
    DynamicSupervisor,
    Restart,
    Supervisor,
    closing_child,
)
from ...tools import ToolProvider, ToolSubset
from .. import Actor, ActorRef
from .admin import McpAdmin, McpAdminTools
from .catalog import CatalogDependencies, McpCatalogActor, OAuthCallback
from .entries import McpCatalog, endpoint_of
from .server import McpServerActor, ToolsListed, server_backoff
from .tokens import ServerTokens
from .tools import McpServerTools

__all__ = ["OPEN_TO_EVERYONE", "McpSystem", "mcp_subsystem"]

logger = logging.getLogger(__name__)

#: The ``mcp`` operations anyone may run (reading); ``McpAdmin`` lets only administrators
#: run the others, so only administrators are offered them as tools.
OPEN_TO_EVERYONE = frozenset({"list", "status", "tools"})


@dataclass
class McpSystem:
    """What the rest of Clara uses of the MCP subtree."""

    spec: ChildSpec
    """``mcp``: add it to the root's children."""
    supervisor: Supervisor
    catalog: McpCatalog
    admin: McpAdmin
    reaper: Reaper
    catalog_ref: ActorRef
    """The catalog actor (the one writer of the configured servers)."""
    server_supervisor: DynamicSupervisor
    """``servers``: one ``McpServerActor`` per server in use."""

    def servers(self) -> DynamicSupervisor:
        return self.server_supervisor

    def tools_for(self, author: Author, platform: str, said: str = "") -> list[ToolProvider]:
        """The providers offered when answering ``author``, who wrote ``said``: each enabled
        server, and ``mcp`` (which changes only what ``said`` names).

        Of the ``mcp`` tools, only those ``author`` may use are offered: the reading ones
        (``OPEN_TO_EVERYONE``) to everyone, the changes to administrators. A change a
        person may not make is not shown to the model on their behalf; ``McpAdmin`` still
        refuses it if it is called all the same.
        """
        providers: list[ToolProvider] = [
            McpServerTools(entry, self.servers, health=self.catalog.health.of(entry.name))
            for entry in self.catalog.enabled()
        ]
        management: ToolProvider = McpAdminTools(self.admin, author, platform, said)
        if not self.admin.is_admin(author):
            management = ToolSubset(management, OPEN_TO_EVERYONE)
        providers.append(management)
        return providers

    async def oauth_callback(self, state: str, code: str, error: str) -> str:
        text: str = await self.catalog_ref.ask(
            OAuthCallback(state=state, code=code, error=error), timeout=None
        )
        return text


def mcp_subsystem(
    settings: Settings,
    *,
    database: Database | None,
    secrets: SecretBox | None,
    backoff: Backoff | None = None,
) -> McpSystem:
    """The subtree and its helpers (nothing runs until the supervisor starts).

    Its children, in start order: ``reaper`` (closes the process reaper and the OAuth HTTP
    client, last, when the subtree stops), ``catalog`` and ``servers``.
    """
    mcp = settings.mcp
    data_dir = settings.runtime.data_dir.resolve()
    catalog = McpCatalog()
    reaper = Reaper()
    # One client for discovery, registration and token refresh; made now, closed at stop.
    oauth_http = httpx.AsyncClient(timeout=30.0)
    redirect = mcp.oauth_redirect_url
    if not redirect and settings.status.enabled:
        redirect = f"http://{settings.status.host}:{settings.status.port}/oauth/callback"

    def oauth() -> OAuthClient:
        return OAuthClient(oauth_http)

    def tools_listed(listed: ToolsListed) -> None:
        try:
            catalog_ref.tell_nowait(listed)
        except ClaraError as error:
            logger.info("could not record %s's tools: %s", listed.server, error)

    def server(name: str) -> Actor:
        entry = catalog.entries.get(name)
        if entry is None or not entry.enabled:
            raise ClaraError(f"there is no enabled MCP server named {name!r}")
        auth = None
        if entry.config.oauth and database is not None and secrets is not None:
            assert entry.config.url is not None
            auth = ServerTokens(name, entry.config.url, database, secrets, oauth).auth()
        loader = None
        if entry.config.secret_env and database is not None and secrets is not None:
            box = secrets

            async def loader() -> dict[str, str]:
                assert database is not None
                values: dict[str, str] = await database.run(load_mcp_server_secrets, box, name)
                return values

        return McpServerActor(
            endpoint_of(entry, connect_timeout=mcp.install_timeout),
            reaper=reaper,
            call_timeout=min(entry.config.call_timeout, mcp.call_timeout),
            ping_interval=mcp.ping_seconds,
            ping_timeout=mcp.ping_timeout,
            on_tools=tools_listed,
            auth=auth,
            secrets=loader,
            health=catalog.health.of(name),
        )

    roots = mcp.path_roots or (str(data_dir / "mcp" / "local"),)
    installer = Installer(
        data_dir / "mcp" / "servers",
        timeout=mcp.install_timeout,
        container_engine=mcp.container_engine,
        container_network=mcp.container_network,
        npm_registry=mcp.npm_registry,
    )
    server_supervisor = DynamicSupervisor(
        server,
        max_children=mcp.max_running,
        restart=Restart.TRANSIENT,
        mailbox_capacity=1000,
        passivate_after=mcp.idle_seconds,
        backoff=backoff or server_backoff(mcp),
        # Backoff slows a flapping server; one must never take the others down with it.
        max_restarts=10_000,
        max_seconds=60.0,
        shutdown=10.0,
    )
    deps = CatalogDependencies(
        catalog=catalog,
        settings=mcp,
        installer=installer,
        servers=server_supervisor,
        database=database,
        secrets=secrets,
        reaper=reaper,
        redirect_url=redirect,
        path_roots=tuple(roots),
        oauth=oauth,
    )
    catalog_spec = ChildSpec("catalog", lambda: McpCatalogActor(deps), mailbox_capacity=1000)
    catalog_ref = catalog_spec.ref
    supervisor = Supervisor(
        [
            # First, so it stops last: the servers close gracefully before the reaper goes.
            closing_child("reaper", reaper.aclose, oauth_http.aclose),
            catalog_spec,
            ChildSpec("servers", server_supervisor),
        ],
        max_restarts=10,
        max_seconds=60.0,
    )
    admin = McpAdmin(
        catalog=catalog,
        catalog_ref=catalog_ref,
        servers=server_supervisor,
        mcp=mcp,
        discord=settings.discord,
        database=database,
    )
    return McpSystem(
        spec=ChildSpec("mcp", supervisor, shutdown=30.0),
        supervisor=supervisor,
        catalog=catalog,
        admin=admin,
        reaper=reaper,
        catalog_ref=catalog_ref,
        server_supervisor=server_supervisor,
    )
