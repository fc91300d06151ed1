"""Every setting Clara reads, grouped into frozen Structs by area.

Each field is read from one environment variable, registered in ``_variables.VARIABLES``.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from .dsn import dsn_passwords
from .values import Secret

__all__ = [
    "AREAS",
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
    statement_timeout: float = 30.0


class EncryptionSettings(msgspec.Struct, frozen=True, kw_only=True):
    keys: tuple[Secret, ...] = ()
    """Fernet keys, newest first; empty: a key file in the data directory."""


class DiscordSettings(msgspec.Struct, frozen=True, kw_only=True):
    token: Secret | None = None
    api_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg"
    admin_role: str = ""
    allowed_guilds: tuple[int, ...] = ()
    command_guilds: tuple[int, ...] = ()
    stop_phrases: tuple[str, ...] = ("clara stop", "nevermind")
    user_rate_per_minute: int = 10
    channel_mailbox: int = 50
    resume_window: float = 600.0
    """Seconds a message stays worth answering after a restart (resumed or caught up)."""
    resume_note: bool = True
    """Older unanswered messages get one short note that Clara restarted (else: closed)."""
    drain_timeout: float = 30.0
    """Seconds a SIGTERM lets running replies finish before the process exits."""
    catchup_lookback: float = 3600.0
    """Channels active within this many seconds before a start are caught up."""
    catchup_channels: int = 50
    catchup_messages: int = 50
    guild_ready_timeout: float = 2.0
    """Seconds discord.py waits for the servers' data after connecting, before it is ready."""

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
    """``podman`` or ``docker``, or the absolute path of one: needed for image sources."""
    container_network: str = "none"
    npm_registry: str = ""
    ping_seconds: float = 30.0
    ping_timeout: float = 10.0
    backoff_min: float = 0.5
    """Seconds before a crashed server's first restart; doubled for each quick crash after."""
    backoff_max: float = 60.0
    """The longest wait before a restart (and the cap of ``backoff_min``)."""
    backoff_reset: float = 120.0
    """Seconds of running without a crash after which the wait starts again from the first."""
    ops_per_minute: int = 10
    oauth_redirect_url: str = ""
    """Where the authorization server sends people back; empty: the status endpoint's
    ``/oauth/callback``."""


class EmailSettings(msgspec.Struct, frozen=True, kw_only=True):
    enabled: bool = True
    poll_seconds: float = 300.0
    imap_timeout: float = 30.0
    idle_renew_seconds: float = 600.0
    failure_threshold: int = 5
    slow_retry_seconds: float = 900.0
    login_retry_seconds: float = 3600.0
    max_alert_attempts: int = 5
    threads: int = 16


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
        """Every configured secret value (for the log filter that masks them), and the
        database URL's password alone."""
        found: list[str] = []
        for area in AREAS:
            values = getattr(self, area)
            for field in values.__struct_fields__:
                value = getattr(values, field)
                items = value if isinstance(value, tuple) else (value,)
                found.extend(item.reveal() for item in items if isinstance(item, Secret))
        if self.database.url is not None:
            # A driver or a server may echo the password without the URL around it.
            found.extend(dsn_passwords(self.database.url.reveal()))
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
