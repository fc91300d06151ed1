"""MCP servers through the official SDK: connections, the process reaper, install sources,
installation, and OAuth for remote servers (with the checks on every host a source or a
remote server names: ``_hosts``, ``_urls``, ``_outbound``)."""

from ._connection import McpConnection, McpEndpoint, ServerGone, ToolCallFailed, text_of
from ._env import parse_env, refusal_of
from ._hosts import Network, Resolver, system_resolver
from ._install import Installer, InstallError, NeedsAuthorization, test_start
from ._oauth import (
    FLOW_TIMEOUT,
    REFRESH_MARGIN,
    TRANSITIONS,
    AuthServer,
    BearerAuth,
    FlowState,
    InvalidTransition,
    OAuthError,
    OAuthFlow,
    TokenSet,
)
from ._oauth_client import OAuthClient
from ._protocol import Connection, ConnectionFactory
from ._reaper import Reaper
from ._sources import (
    IMAGE_REGISTRIES,
    KINDS,
    InstallSource,
    SourceError,
    check_allowed,
    parse_source,
)

__all__ = [
    "FLOW_TIMEOUT",
    "IMAGE_REGISTRIES",
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
    "Network",
    "OAuthClient",
    "OAuthError",
    "OAuthFlow",
    "Reaper",
    "Resolver",
    "ServerGone",
    "SourceError",
    "TokenSet",
    "ToolCallFailed",
    "check_allowed",
    "parse_env",
    "parse_source",
    "refusal_of",
    "system_resolver",
    "test_start",
    "text_of",
]
