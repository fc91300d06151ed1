"""MCP servers in Clara: the catalog of configured servers, their actors, their tools.

``/clara/mcp`` is a supervisor with three children: ``reaper`` (owns the process reaper),
and these two:

- ``catalog``, the ``McpCatalogActor``: the one writer of the configured servers (the store's
  ``mcp_servers`` rows). It installs (validate, install, test-start, save), uninstalls,
  enables, disables and restarts; it runs OAuth flows for remote servers; it keeps each
  server's last tool list, so tools are offered to the model before a server ever runs.
  Readers see an immutable snapshot, ``McpCatalog.entries``, swapped whole on each change.
- ``servers``, a DynamicSupervisor of ``McpServerActor`` keyed by server name: started on a
  tool's first call, passivated after ``idle_seconds`` unused (which stops the process),
  at most ``max_running`` at once (the least recently idle one makes room), restarted with
  backoff after a crash (``server_backoff``: the ``CLARA_MCP_BACKOFF_*`` settings).

``McpServerTools`` is what the tool loop sees: one provider per enabled server, named after
it, so its tools reach the model as ``server__tool``. A call to a server that is down fails
at once with a tool error saying so (and when it will be tried again); other servers are
not affected.

Each server's totals (calls, failures, time-outs, calls refused while it was down, crashes
and the last one's cause) outlive its actor's incarnations: ``McpCatalog.health`` keeps one
``ServerHealth`` per server, which ``/mcp status`` and the status page read.

Modules: ``entries`` (the catalog snapshot), ``catalog`` (its actor), ``health`` (each
server's totals), ``server`` (one actor per server), ``tools`` (what the tool loop calls),
``tokens`` (OAuth tokens), ``admin`` (``/mcp`` and the model's ``mcp__*`` tools),
``subsystem`` (the ``mcp`` subtree).
"""

from .admin import OPERATIONS, McpAdmin, McpAdminTools, managers
from .catalog import (
    AbandonFlow,
    CatalogDependencies,
    Install,
    InstallOutcome,
    McpCatalogActor,
    McpOperationError,
    OAuthCallback,
    RestartServer,
    SetEnabled,
    Uninstall,
)
from .entries import (
    RESERVED_NAMES,
    CatalogEntry,
    McpCatalog,
    endpoint_of,
    tool_records,
    valid_server_name,
    with_env,
    with_env_names,
)
from .health import McpHealth, ServerHealth
from .server import (
    CallTool,
    ListTools,
    McpServerActor,
    ToolsListed,
    ToolTimeout,
    server_backoff,
)
from .subsystem import McpSystem, mcp_subsystem
from .tokens import ServerTokens
from .tools import McpServerTools, ToolUnavailable

__all__ = [
    "OPERATIONS",
    "RESERVED_NAMES",
    "AbandonFlow",
    "CallTool",
    "CatalogDependencies",
    "CatalogEntry",
    "Install",
    "InstallOutcome",
    "ListTools",
    "McpAdmin",
    "McpAdminTools",
    "McpCatalog",
    "McpCatalogActor",
    "McpHealth",
    "McpOperationError",
    "McpServerActor",
    "McpServerTools",
    "McpSystem",
    "OAuthCallback",
    "RestartServer",
    "ServerHealth",
    "ServerTokens",
    "SetEnabled",
    "ToolTimeout",
    "ToolUnavailable",
    "ToolsListed",
    "Uninstall",
    "endpoint_of",
    "managers",
    "mcp_subsystem",
    "server_backoff",
    "tool_records",
    "valid_server_name",
    "with_env",
    "with_env_names",
]
