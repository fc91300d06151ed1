"""Every setting Clara reads: one ``Var`` each, grouped into frozen Structs by area.

The ``VARIABLES`` registry below is the single source: the loader reads it, ``python -m clara
config`` prints it, and the README's configuration table is generated from it (a test keeps
them equal). Adding a setting means adding a field to its area and a ``Var`` here.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from ..errors import ConfigError
from ._values import (
    Parser,
    Secret,
    boolean,
    choice,
    dsn,
    host,
    id_list,
    integer,
    mask,
    seconds,
    secret,
    secret_list,
    text,
    text_list,
    tier_models,
    url,
)

__all__ = [
    "AREAS",
    "VARIABLES",
    "DatabaseSettings",
    "DiscordSettings",
    "EmailSettings",
    "EncryptionSettings",
    "LlmSettings",
    "LoggingSettings",
    "McpSettings",
    "MemorySettings",
    "ProactiveSettings",
    "RuntimeSettings",
    "SandboxSettings",
    "Settings",
    "StatusSettings",
    "Var",
]

LLM_PROVIDERS = ("openrouter", "anthropic", "openai", "nanogpt", "local")

#: The model of each tier per provider, unless CLARA_<PROVIDER>_MODELS says otherwise.
DEFAULT_MODELS: dict[str, dict[str, str]] = {
    "openrouter": {
        "high": "anthropic/claude-sonnet-4.5",
        "mid": "openai/gpt-4.1-mini",
        "low": "meta-llama/llama-3.3-70b-instruct",
    },
    "anthropic": {
        "high": "claude-sonnet-4-5",
        "mid": "claude-haiku-4-5",
        "low": "claude-haiku-4-5",
    },
    "openai": {"high": "gpt-4.1", "mid": "gpt-4.1-mini", "low": "gpt-4.1-nano"},
    "nanogpt": {"high": "chatgpt-4o-latest", "mid": "gpt-4o-mini", "low": "gpt-4o-mini"},
    "local": {"high": "llama3.1:8b", "mid": "llama3.1:8b", "low": "llama3.2:3b"},
}


class RuntimeSettings(msgspec.Struct, frozen=True, kw_only=True):
    data_dir: Path = Path("data")
    dead_letters: int = 1000
    root_max_restarts: int = 3
    root_max_seconds: float = 5.0


class LoggingSettings(msgspec.Struct, frozen=True, kw_only=True):
    level: str = "INFO"
    format: str = "text"


class StatusSettings(msgspec.Struct, frozen=True, kw_only=True):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8787
    token: Secret | None = None

    @property
    def url(self) -> str:
        """Where a client on this machine reaches the endpoint."""
        name = self.host
        if name in ("0.0.0.0", "::", ""):
            name = "127.0.0.1"
        if ":" in name and not name.startswith("["):
            name = f"[{name}]"
        return f"http://{name}:{self.port}"


class DatabaseSettings(msgspec.Struct, frozen=True, kw_only=True):
    url: Secret | None = None
    """None: SQLite in the data directory."""
    pool_size: int = 5
    busy_timeout: float = 5.0


class EncryptionSettings(msgspec.Struct, frozen=True, kw_only=True):
    keys: tuple[Secret, ...] = ()
    """Fernet keys, newest first; empty: a key file in the data directory."""


class DiscordSettings(msgspec.Struct, frozen=True, kw_only=True):
    token: Secret | None = None
    api_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg"
    admin_role: str = ""
    allowed_guilds: tuple[int, ...] = ()
    stop_phrases: tuple[str, ...] = ("clara stop", "nevermind")
    user_rate_per_minute: int = 10
    channel_mailbox: int = 50

    @property
    def enabled(self) -> bool:
        """Without a token, Clara chats in the console instead."""
        return self.token is not None


class LlmSettings(msgspec.Struct, frozen=True, kw_only=True):
    providers: tuple[str, ...] = ()
    """Explicit failover order; empty: every provider with a key, then the local server."""
    openrouter_api_key: Secret | None = None
    anthropic_api_key: Secret | None = None
    anthropic_base_url: str = "https://api.anthropic.com"
    openai_api_key: Secret | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    nanogpt_api_key: Secret | None = None
    local_base_url: str = "http://127.0.0.1:11434/v1"
    default_tier: str = "mid"
    timeout: float = 60.0
    openrouter_models: tuple[tuple[str, str], ...] = ()
    anthropic_models: tuple[tuple[str, str], ...] = ()
    openai_models: tuple[tuple[str, str], ...] = ()
    nanogpt_models: tuple[tuple[str, str], ...] = ()
    local_models: tuple[tuple[str, str], ...] = ()
    breaker_threshold: int = 3
    breaker_cooldown: float = 30.0
    auto_tier: bool = False

    def models_of(self, provider: str) -> dict[str, str]:
        """The model per tier for ``provider``: the defaults, then the overrides."""
        models = dict(DEFAULT_MODELS[provider])
        models.update(dict(getattr(self, f"{provider}_models")))
        return models

    def key_of(self, provider: str) -> Secret | None:
        key: Secret | None = getattr(self, f"{provider}_api_key", None)
        return key

    @property
    def failover_order(self) -> tuple[str, ...]:
        if self.providers:
            return self.providers
        keyed = tuple(p for p in LLM_PROVIDERS if p != "local" and self.key_of(p) is not None)
        return (*keyed, "local")


class MemorySettings(msgspec.Struct, frozen=True, kw_only=True):
    enabled: bool = True
    vector_store: str = "qdrant"
    qdrant_url: str = ""
    """Empty: embedded Qdrant in the data directory."""
    qdrant_api_key: Secret | None = None
    search_timeout: float = 2.0
    batch_seconds: float = 2.0
    embedding_url: str = ""
    """Empty: OpenAI's when OPENAI_API_KEY is set, else the local server."""
    embedding_model: str = ""
    embedding_dims: int = 0


class McpSettings(msgspec.Struct, frozen=True, kw_only=True):
    enabled: bool = True
    max_running: int = 20
    idle_seconds: float = 900.0
    call_timeout: float = 60.0
    install_timeout: float = 120.0
    allowed_sources: tuple[str, ...] = ("npm", "github")
    allow: tuple[str, ...] = ()
    """fnmatch patterns over canonical sources (``npm:@modelcontextprotocol/*``); empty: any."""
    path_roots: tuple[str, ...] = ()
    """Folders local-path servers may live in; empty: ``DATA_DIR/mcp/local``."""
    container_engine: str = ""
    """``podman`` or ``docker`` (a command): needed for image sources."""
    npm_registry: str = ""
    ping_seconds: float = 30.0
    ping_timeout: float = 10.0
    ops_per_minute: int = 10
    oauth_redirect_url: str = ""
    """Where the authorization server sends people back; empty: the status endpoint's
    ``/oauth/callback``."""


class EmailSettings(msgspec.Struct, frozen=True, kw_only=True):
    enabled: bool = True
    poll_seconds: float = 300.0
    imap_timeout: float = 30.0


class SandboxSettings(msgspec.Struct, frozen=True, kw_only=True):
    backend: str = "none"
    docker_url: str = "unix:///var/run/docker.sock"
    image: str = ""
    timeout: float = 30.0
    memory_mb: int = 512
    idle_seconds: float = 600.0


class ProactiveSettings(msgspec.Struct, frozen=True, kw_only=True):
    enabled: bool = True
    check_minutes: int = 30
    quiet_hours: str = "22-08"
    max_per_day: int = 3


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything Clara is configured with, one Struct per area."""

    runtime: RuntimeSettings = msgspec.field(default_factory=RuntimeSettings)
    logging: LoggingSettings = msgspec.field(default_factory=LoggingSettings)
    status: StatusSettings = msgspec.field(default_factory=StatusSettings)
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    encryption: EncryptionSettings = msgspec.field(default_factory=EncryptionSettings)
    discord: DiscordSettings = msgspec.field(default_factory=DiscordSettings)
    llm: LlmSettings = msgspec.field(default_factory=LlmSettings)
    memory: MemorySettings = msgspec.field(default_factory=MemorySettings)
    mcp: McpSettings = msgspec.field(default_factory=McpSettings)
    email: EmailSettings = msgspec.field(default_factory=EmailSettings)
    sandbox: SandboxSettings = msgspec.field(default_factory=SandboxSettings)
    proactive: ProactiveSettings = msgspec.field(default_factory=ProactiveSettings)

    @property
    def log_level(self) -> str:
        return self.logging.level

    @property
    def secrets(self) -> list[str]:
        """Every configured secret value (for the log filter that masks them)."""
        found: list[str] = []
        for area in AREAS:
            values = getattr(self, area)
            for field in values.__struct_fields__:
                value = getattr(values, field)
                items = value if isinstance(value, tuple) else (value,)
                found.extend(item.reveal() for item in items if isinstance(item, Secret))
        return found


AREAS = (
    "runtime",
    "logging",
    "status",
    "database",
    "encryption",
    "discord",
    "llm",
    "memory",
    "mcp",
    "email",
    "sandbox",
    "proactive",
)


@dataclass(frozen=True)
class Var:
    """One environment variable: where it goes, how it is read, what it means."""

    name: str
    area: str
    field: str
    parse: Parser
    doc: str
    default_text: str = ""

    @property
    def secret(self) -> bool:
        return bool(getattr(self.parse, "secret", False))

    def default(self) -> Any:
        return getattr(Settings(), self.area).__getattribute__(self.field)


def _fernet_key(name: str, value: str, index: int) -> None:
    try:
        raw = base64.urlsafe_b64decode(value.encode())
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ConfigError(
            f"{name}: key {index + 1} is not a Fernet key (32 url-safe base64-encoded bytes); "
            f"got {mask(value)}. Make one with: python -m clara keys generate"
        )


_SECONDS = seconds()
_LLM_URL = url("http", "https")

VARIABLES: tuple[Var, ...] = (
    # runtime
    Var(
        "CLARA_DATA_DIR",
        "runtime",
        "data_dir",
        lambda n, r: Path(r.strip()),
        "where Clara keeps its SQLite database, embedded Qdrant and key file",
        "data",
    ),
    Var(
        "CLARA_DEAD_LETTERS",
        "runtime",
        "dead_letters",
        integer(1),
        "how many recent dead letters are kept for operators (all are counted)",
        "1000",
    ),
    Var(
        "CLARA_ROOT_MAX_RESTARTS",
        "runtime",
        "root_max_restarts",
        integer(0),
        "restarts the root supervisor allows within CLARA_ROOT_MAX_SECONDS",
        "3",
    ),
    Var(
        "CLARA_ROOT_MAX_SECONDS",
        "runtime",
        "root_max_seconds",
        _SECONDS,
        "the root's restart-intensity window, in seconds",
        "5",
    ),
    # logging
    Var(
        "CLARA_LOG_LEVEL",
        "logging",
        "level",
        choice("DEBUG", "INFO", "WARNING", "ERROR"),
        "DEBUG, INFO, WARNING or ERROR; what users wrote is logged only at DEBUG",
        "INFO",
    ),
    Var(
        "CLARA_LOG_FORMAT",
        "logging",
        "format",
        choice("text", "json"),
        "text (one line per record) or json (one object per line)",
        "text",
    ),
    # status
    Var(
        "CLARA_STATUS_ENABLED",
        "status",
        "enabled",
        boolean,
        "serve the status endpoint (/status, /metrics, /readyz, the page)",
        "true",
    ),
    Var(
        "CLARA_STATUS_HOST",
        "status",
        "host",
        host,
        "its address; any that is not loopback requires CLARA_STATUS_TOKEN",
        "127.0.0.1",
    ),
    Var(
        "CLARA_STATUS_PORT",
        "status",
        "port",
        integer(0, 65535),
        "its port (0: any free port, logged at start)",
        "8787",
    ),
    Var(
        "CLARA_STATUS_TOKEN",
        "status",
        "token",
        secret(16),
        "bearer token every request must carry (16+ characters)",
    ),
    # database
    Var(
        "DATABASE_URL",
        "database",
        "url",
        dsn,
        "PostgreSQL (postgresql://USER:PASSWORD@HOST/DB) or SQLite (sqlite:///PATH); "
        "unset: SQLite at CLARA_DATA_DIR/clara.db",
    ),
    Var(
        "CLARA_DB_POOL_SIZE",
        "database",
        "pool_size",
        integer(1, 100),
        "database connections (and so worker threads doing database work) at once",
        "5",
    ),
    Var(
        "CLARA_DB_BUSY_TIMEOUT",
        "database",
        "busy_timeout",
        _SECONDS,
        "SQLite: seconds to wait for a lock before failing",
        "5",
    ),
    # encryption
    Var(
        "CLARA_ENCRYPTION_KEYS",
        "encryption",
        "keys",
        secret_list(_fernet_key),
        "Fernet keys for secrets at rest, comma-separated, newest first (rotation); "
        "unset: a key generated into CLARA_DATA_DIR/encryption.key",
    ),
    # discord
    Var(
        "DISCORD_BOT_TOKEN",
        "discord",
        "token",
        secret(20),
        "the bot's token; unset: Clara chats in the console instead",
    ),
    Var(
        "CLARA_DISCORD_API_URL",
        "discord",
        "api_url",
        url("http", "https"),
        "Discord REST base URL (a rate-limit proxy, or a local fake)",
        "https://discord.com/api/v10",
    ),
    Var(
        "CLARA_DISCORD_GATEWAY_URL",
        "discord",
        "gateway_url",
        url("ws", "wss"),
        "Discord gateway URL (a gateway proxy, or a local fake)",
        "wss://gateway.discord.gg",
    ),
    Var(
        "CLARA_DISCORD_ADMIN_ROLE",
        "discord",
        "admin_role",
        text,
        "role allowed to run administrative commands (besides server administrators)",
    ),
    Var(
        "CLARA_DISCORD_ALLOWED_GUILDS",
        "discord",
        "allowed_guilds",
        id_list,
        "server ids Clara answers in, comma-separated; unset: all",
    ),
    Var(
        "CLARA_DISCORD_STOP_PHRASES",
        "discord",
        "stop_phrases",
        text_list,
        "phrases that cancel the running reply and clear the queue",
        "clara stop,nevermind",
    ),
    Var(
        "CLARA_DISCORD_USER_RATE",
        "discord",
        "user_rate_per_minute",
        integer(1),
        "messages per minute a user may address to Clara before a notice",
        "10",
    ),
    Var(
        "CLARA_CHANNEL_MAILBOX",
        "discord",
        "channel_mailbox",
        integer(1, 10_000),
        "messages a channel queues while a reply runs; beyond: Clara says it is busy",
        "50",
    ),
    # llm
    Var(
        "CLARA_LLM_PROVIDERS",
        "llm",
        "providers",
        text_list,
        "failover order, from openrouter, anthropic, openai, nanogpt, local; "
        "unset: each provider with a key, then the local server",
    ),
    Var("OPENROUTER_API_KEY", "llm", "openrouter_api_key", secret(8), "OpenRouter API key"),
    Var("ANTHROPIC_API_KEY", "llm", "anthropic_api_key", secret(8), "Anthropic API key"),
    Var(
        "ANTHROPIC_BASE_URL",
        "llm",
        "anthropic_base_url",
        _LLM_URL,
        "Anthropic API base URL (for proxies)",
        "https://api.anthropic.com",
    ),
    Var("OPENAI_API_KEY", "llm", "openai_api_key", secret(8), "OpenAI API key"),
    Var(
        "OPENAI_BASE_URL",
        "llm",
        "openai_base_url",
        _LLM_URL,
        "OpenAI-compatible base URL",
        "https://api.openai.com/v1",
    ),
    Var("NANOGPT_API_KEY", "llm", "nanogpt_api_key", secret(8), "NanoGPT API key"),
    Var(
        "CLARA_LOCAL_LLM_URL",
        "llm",
        "local_base_url",
        _LLM_URL,
        "a local OpenAI-compatible server (Ollama, llama.cpp, vLLM)",
        "http://127.0.0.1:11434/v1",
    ),
    Var(
        "CLARA_DEFAULT_TIER",
        "llm",
        "default_tier",
        choice("high", "mid", "low"),
        "model tier used when a message names none",
        "mid",
    ),
    Var(
        "CLARA_LLM_TIMEOUT",
        "llm",
        "timeout",
        _SECONDS,
        "seconds a provider may take to answer before failover",
        "60",
    ),
    *(
        Var(
            f"CLARA_{provider.upper()}_MODELS",
            "llm",
            f"{provider}_models",
            tier_models,
            f"{provider}'s model per tier, e.g. high:MODEL,low:MODEL (defaults: "
            + ", ".join(f"{tier} {model}" for tier, model in DEFAULT_MODELS[provider].items())
            + ")",
        )
        for provider in LLM_PROVIDERS
    ),
    Var(
        "CLARA_LLM_BREAKER_FAILURES",
        "llm",
        "breaker_threshold",
        integer(1),
        "consecutive failures that take a provider out of the rotation",
        "3",
    ),
    Var(
        "CLARA_LLM_BREAKER_COOLDOWN",
        "llm",
        "breaker_cooldown",
        _SECONDS,
        "seconds before a provider taken out is tried again",
        "30",
    ),
    Var(
        "CLARA_LLM_AUTO_TIER",
        "llm",
        "auto_tier",
        boolean,
        "let a low-tier call choose the tier of each message that names none",
        "false",
    ),
    # memory
    Var(
        "CLARA_MEMORY_ENABLED",
        "memory",
        "enabled",
        boolean,
        "long-term memory (mem0 over Qdrant)",
        "true",
    ),
    Var(
        "CLARA_MEMORY_VECTOR_STORE",
        "memory",
        "vector_store",
        choice("qdrant", "pgvector"),
        "where memories' vectors live: qdrant (embedded, or CLARA_QDRANT_URL) or pgvector "
        "(the PostgreSQL of DATABASE_URL, with the vector extension)",
        "qdrant",
    ),
    Var(
        "CLARA_QDRANT_URL",
        "memory",
        "qdrant_url",
        url("http", "https"),
        "a Qdrant server; unset: embedded Qdrant in CLARA_DATA_DIR",
    ),
    Var("CLARA_QDRANT_API_KEY", "memory", "qdrant_api_key", secret(8), "Qdrant server API key"),
    Var(
        "CLARA_MEMORY_SEARCH_TIMEOUT",
        "memory",
        "search_timeout",
        _SECONDS,
        "seconds a reply waits for memories before going ahead without them",
        "2",
    ),
    Var(
        "CLARA_MEMORY_BATCH_SECONDS",
        "memory",
        "batch_seconds",
        _SECONDS,
        "window in which a user's memory writes are batched",
        "2",
    ),
    Var(
        "CLARA_MEMORY_EMBEDDING_URL",
        "memory",
        "embedding_url",
        url("http", "https"),
        "OpenAI-compatible embeddings server; unset: OpenAI's with OPENAI_API_KEY, else "
        "CLARA_LOCAL_LLM_URL",
    ),
    Var(
        "CLARA_MEMORY_EMBEDDING_MODEL",
        "memory",
        "embedding_model",
        text,
        "embedding model; unset: text-embedding-3-small (OpenAI) or nomic-embed-text (local)",
    ),
    Var(
        "CLARA_MEMORY_EMBEDDING_DIMS",
        "memory",
        "embedding_dims",
        integer(1),
        "dimensions of its vectors; unset: 1536 (OpenAI) or 768 (nomic-embed-text)",
    ),
    # mcp
    Var("CLARA_MCP_ENABLED", "mcp", "enabled", boolean, "tools from MCP servers", "true"),
    Var(
        "CLARA_MCP_MAX_RUNNING",
        "mcp",
        "max_running",
        integer(1),
        "MCP servers running at once",
        "20",
    ),
    Var(
        "CLARA_MCP_IDLE_SECONDS",
        "mcp",
        "idle_seconds",
        _SECONDS,
        "an unused MCP server is stopped after this long",
        "900",
    ),
    Var(
        "CLARA_MCP_CALL_TIMEOUT",
        "mcp",
        "call_timeout",
        _SECONDS,
        "seconds one tool call may take",
        "60",
    ),
    Var(
        "CLARA_MCP_INSTALL_TIMEOUT",
        "mcp",
        "install_timeout",
        _SECONDS,
        "seconds an installation may take",
        "120",
    ),
    Var(
        "CLARA_MCP_ALLOWED_SOURCES",
        "mcp",
        "allowed_sources",
        text_list,
        "install sources allowed: npm, github, image, path, url",
        "npm,github",
    ),
    Var(
        "CLARA_MCP_ALLOW",
        "mcp",
        "allow",
        text_list,
        "allow-list of sources, fnmatch patterns over npm:NAME, github:OWNER/REPO, image:REF, "
        "path:/DIR, https://URL (empty: any source of an allowed kind)",
        "",
    ),
    Var(
        "CLARA_MCP_PATH_ROOTS",
        "mcp",
        "path_roots",
        text_list,
        "folders local-path MCP servers may be installed from (empty: DATA_DIR/mcp/local)",
        "",
    ),
    Var(
        "CLARA_MCP_CONTAINER_ENGINE",
        "mcp",
        "container_engine",
        text,
        "container engine command for image sources: podman or docker (empty: none)",
        "",
    ),
    Var(
        "CLARA_MCP_NPM_REGISTRY",
        "mcp",
        "npm_registry",
        url("https", "http"),
        "npm registry installs use (empty: npm's configured one)",
        "",
    ),
    Var(
        "CLARA_MCP_PING_SECONDS",
        "mcp",
        "ping_seconds",
        _SECONDS,
        "how often a connected MCP server is pinged",
        "30",
    ),
    Var(
        "CLARA_MCP_PING_TIMEOUT",
        "mcp",
        "ping_timeout",
        _SECONDS,
        "seconds a ping may take before the server counts as hung and is restarted",
        "10",
    ),
    Var(
        "CLARA_MCP_OPS_PER_MINUTE",
        "mcp",
        "ops_per_minute",
        integer(1),
        "MCP management operations one person may run per minute",
        "10",
    ),
    Var(
        "CLARA_MCP_OAUTH_REDIRECT_URL",
        "mcp",
        "oauth_redirect_url",
        url("https", "http"),
        "OAuth redirect for remote MCP servers (empty: the status endpoint's /oauth/callback)",
        "",
    ),
    # email
    Var("CLARA_EMAIL_ENABLED", "email", "enabled", boolean, "watching email accounts", "true"),
    Var(
        "CLARA_EMAIL_POLL_SECONDS",
        "email",
        "poll_seconds",
        _SECONDS,
        "how often accounts without IDLE are checked",
        "300",
    ),
    Var(
        "CLARA_EMAIL_IMAP_TIMEOUT",
        "email",
        "imap_timeout",
        _SECONDS,
        "seconds an IMAP command may take",
        "30",
    ),
    # sandbox
    Var(
        "CLARA_SANDBOX_BACKEND",
        "sandbox",
        "backend",
        choice("none", "docker", "bubblewrap"),
        "where user code runs: none (no code tool), docker (a Docker-compatible engine), "
        "bubblewrap",
        "none",
    ),
    Var(
        "CLARA_SANDBOX_DOCKER_URL",
        "sandbox",
        "docker_url",
        url("unix", "tcp", "http"),
        "the engine's API (docker or podman)",
        "unix:///var/run/docker.sock",
    ),
    Var(
        "CLARA_SANDBOX_IMAGE",
        "sandbox",
        "image",
        text,
        "the sandbox image; required with the docker backend",
    ),
    Var(
        "CLARA_SANDBOX_TIMEOUT",
        "sandbox",
        "timeout",
        _SECONDS,
        "seconds one run may take before it is killed",
        "30",
    ),
    Var(
        "CLARA_SANDBOX_MEMORY_MB",
        "sandbox",
        "memory_mb",
        integer(16),
        "memory limit of a sandbox, in MiB",
        "512",
    ),
    Var(
        "CLARA_SANDBOX_IDLE_SECONDS",
        "sandbox",
        "idle_seconds",
        _SECONDS,
        "an idle sandbox is removed after this long",
        "600",
    ),
    # proactive
    Var(
        "CLARA_PROACTIVE_ENABLED",
        "proactive",
        "enabled",
        boolean,
        "Clara reaching out on its own",
        "true",
    ),
    Var(
        "CLARA_PROACTIVE_CHECK_MINUTES",
        "proactive",
        "check_minutes",
        integer(1),
        "how often each user's proactive state is reconsidered",
        "30",
    ),
    Var(
        "CLARA_PROACTIVE_QUIET_HOURS",
        "proactive",
        "quiet_hours",
        text,
        "hours (in each user's time zone) when Clara never reaches out, HH-HH",
        "22-08",
    ),
    Var(
        "CLARA_PROACTIVE_MAX_PER_DAY",
        "proactive",
        "max_per_day",
        integer(0),
        "proactive messages per user per day at most",
        "3",
    ),
)
