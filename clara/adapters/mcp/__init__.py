"""MCP servers through the official SDK: connections, the process reaper, install sources,
installation, and OAuth for remote servers."""

from ._connection import McpConnection, McpEndpoint, ServerGone, ToolCallFailed, text_of
from ._install import Installer, InstallError, NeedsAuthorization, test_start
from ._oauth import (
    FLOW_TIMEOUT,
    REFRESH_MARGIN,
    TRANSITIONS,
    AuthServer,
    BearerAuth,
    FlowState,
    InvalidTransition,
    OAuthClient,
    OAuthError,
    OAuthFlow,
    TokenSet,
)
from ._protocol import Connection, ConnectionFactory
from ._reaper import Reaper
from ._sources import (
    KINDS,
    InstallSource,
    SourceError,
    check_allowed,
    parse_env,
    parse_source,
)

__all__ = [
    "FLOW_TIMEOUT",
    "KINDS",
    "REFRESH_MARGIN",
    "TRANSITIONS",
    "AuthServer",
    "BearerAuth",
    "Connection",
    "ConnectionFactory",
    "FlowState",
    "InstallError",
    "InstallSource",
    "Installer",
    "InvalidTransition",
    "McpConnection",
    "McpEndpoint",
    "NeedsAuthorization",
    "OAuthClient",
    "OAuthError",
    "OAuthFlow",
    "Reaper",
    "ServerGone",
    "SourceError",
    "TokenSet",
    "ToolCallFailed",
    "check_allowed",
    "parse_env",
    "parse_source",
    "test_start",
    "text_of",
]
