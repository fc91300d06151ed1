"""Every setting Clara reads, grouped into frozen Structs by area.

Each field is read from one environment variable, registered in ``_variables.VARIABLES``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec

from ..errors import ConfigError
from .addresses import is_loopback
from .dsn import dsn_passwords
from .values import Secret, shown

__all__ = [
    "AREAS",
    "DatabaseSettings",
    "DiscordSettings",
    "EmailSettings",
    "EncryptionSettings",
    "LlmSettings",
    "LoggingSettings",
    "MailroomSettings",
    "McpSettings",
    "MemorySettings",
    "ProactiveSettings",
    "RuntimeSettings",
    "SandboxSettings",
    "Settings",
    "StatusSettings",
]

#: What CLARA_MAILROOM_ADDRESS must look like: one mailbox, nothing a header could split on.
_EMAIL_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"\\]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")

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
    private_hosts: bool = False
    """Whether ``/email connect`` may reach private, loopback and link-local addresses and
    connect without TLS (a self-hosted server on the local network)."""
    google_client_id: str = ""
    """Clara's OAuth client at Google; empty: no ``google`` sign-in (docs/email.md)."""
    google_client_secret: Secret | None = None
    microsoft_client_id: str = ""
    """Clara's app at Microsoft (Entra ID); empty: no ``microsoft`` sign-in."""
    microsoft_client_secret: Secret | None = None
    """Needed by a web app; a public client (no secret) works without."""
    microsoft_tenant: str = "common"
    oauth_providers: Secret | None = None
    """The operator's own OAuth providers, a JSON object (it may hold client secrets, so it
    is a secret as a whole); checked by ``clara.adapters.email.oauth_providers``."""


class MailroomSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Clara's own inbox (docs/mailroom.md): off unless enabled; then checked as a whole."""

    enabled: bool = False
    address: str = ""
    """Clara's own email address: the mailbox read, and the From of every reply."""
    operator_channel: str = ""
    """Where summaries and drafts are posted, and where administrators may decide."""
    operators: tuple[int, ...] = ()
    """User ids who alone may decide; empty: administrators in the operator channel."""
    imap_host: str = ""
    imap_port: int = 993
    imap_tls: bool = True
    imap_user: str = ""
    """Empty: the address."""
    imap_password: Secret | None = None
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"
    """``starttls``, ``ssl`` (TLS from the first byte) or ``plain`` (loopback only with auth)."""
    smtp_auth: bool = True
    smtp_user: str = ""
    """Empty: the IMAP user."""
    smtp_password: Secret | None = None
    """None: the IMAP password."""
    timeout: float = 30.0
    tier: str = "mid"
    max_send_attempts: int = 8
    retry_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    ops_per_minute: int = 10

    def __post_init__(self) -> None:
        _check_mailroom(self)


def _check_mailroom(settings: MailroomSettings) -> None:
    """What the mailroom needs once it is on; every message names the variable to set."""
    if settings.address and not _EMAIL_ADDRESS.fullmatch(settings.address):
        raise ConfigError(
            f"CLARA_MAILROOM_ADDRESS must be an email address (name@domain); "
            f"got {shown(settings.address)}"
        )
    if not settings.enabled:
        return
    needed = (
        ("CLARA_MAILROOM_ADDRESS", settings.address, "Clara's own email address"),
        ("CLARA_MAILROOM_OPERATOR_CHANNEL", settings.operator_channel, "where drafts go"),
        ("CLARA_MAILROOM_IMAP_HOST", settings.imap_host, "the IMAP server"),
        ("CLARA_MAILROOM_IMAP_PASSWORD", settings.imap_password, "the mailbox's password"),
        ("CLARA_MAILROOM_SMTP_HOST", settings.smtp_host, "the SMTP server replies go through"),
    )
    for name, value, what in needed:
        if not value:
            raise ConfigError(
                f"CLARA_MAILROOM_ENABLED is true, so {name} ({what}) is required; it is not set"
            )
    if not settings.imap_tls and not is_loopback(settings.imap_host):
        raise ConfigError(
            f"CLARA_MAILROOM_IMAP_TLS is false, but CLARA_MAILROOM_IMAP_HOST is "
            f"{shown(settings.imap_host)}, which is not a loopback address: the password "
            "would cross the network in the clear. Use TLS (port 993)"
        )
    plain_login = settings.smtp_security == "plain" and settings.smtp_auth
    if plain_login and not is_loopback(settings.smtp_host):
        raise ConfigError(
            f"CLARA_MAILROOM_SMTP_SECURITY is plain, but CLARA_MAILROOM_SMTP_HOST is "
            f"{shown(settings.smtp_host)}, which is not a loopback address: the password "
            "would cross the network in the clear. Use starttls or ssl, or "
            "CLARA_MAILROOM_SMTP_AUTH=false for a relay that needs no login"
        )
    if settings.retry_max_seconds < settings.retry_seconds:
        raise ConfigError(
            f"CLARA_MAILROOM_RETRY_MAX_SECONDS ({settings.retry_max_seconds:g}) must be at "
            f"least CLARA_MAILROOM_RETRY_SECONDS ({settings.retry_seconds:g})"
        )


class SandboxSettings(msgspec.Struct, frozen=True, kw_only=True):
    backend: str = "none"
    """``none`` (no code tools), ``auto`` (what the host has), ``docker``, ``bubblewrap``,
    ``remote``. ``none`` by default: running people's code is an operator's choice."""
    docker_url: str = "unix:///var/run/docker.sock"
    image: str = ""
    timeout: float = 30.0
    memory_mb: int = 512
    idle_seconds: float = 600.0
    cpus: float = 1.0
    pids: int = 128
    work_mb: int = 256
    """The writable work directory of each sandbox: the person's storage quota."""
    max_running: int = 20
    output_kb: int = 64
    """Output kept of one run, per stream (the rest is dropped at the source)."""
    runtime: str = ""
    """An OCI runtime for the docker backend (``runsc``: gVisor); empty: the engine's own."""
    proxy_url: str | None = None
    """The allow-listing proxy package installs go through; None: installs are off."""
    packages: tuple[str, ...] = ()
    """Package names ``install_package`` accepts; empty: any name."""
    index_url: str | None = None
    """The package index ``install_package`` uses (through the proxy); None: PyPI."""
    remote_url: str | None = None
    remote_key: Secret | None = None
    server_host: str = "127.0.0.1"
    server_port: int = 8765
    server_keys: tuple[Secret, ...] = ()
    """The API keys ``python -m clara sandbox-server`` accepts: one per Clara process (a key's
    sandboxes are its own, and each Clara sweeps its key's at start)."""
    ops_per_minute: int = 10
    scope: str = "clara"
    """This Clara's name on its sandboxes (a container label, a folder): at start it removes
    what its scope's earlier life left, so each Clara sharing an engine needs its own."""

    def __post_init__(self) -> None:
        _check_sandbox(self)


_RUNTIME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _check_sandbox(settings: SandboxSettings) -> None:
    """What the chosen backend needs; every message names the variable to set."""
    if not _RUNTIME.fullmatch(settings.scope):
        raise ConfigError(
            "CLARA_SANDBOX_SCOPE must be 1 to 64 letters, digits, '.', '_' or '-' (starting "
            f"with a letter or digit); got {settings.scope!r}"
        )
    if settings.runtime and not _RUNTIME.fullmatch(settings.runtime):
        raise ConfigError(
            "CLARA_SANDBOX_RUNTIME must be the name of an OCI runtime the engine knows "
            f"(letters, digits, '_', '.', '-'; e.g. runsc); got {shown(settings.runtime)}"
        )
    if not 0.05 <= settings.cpus <= 64:
        raise ConfigError(
            f"CLARA_SANDBOX_CPUS must be a number of cores from 0.05 to 64; got {settings.cpus:g}"
        )
    if settings.backend == "remote" and (settings.remote_url is None or not settings.remote_key):
        missing = "CLARA_SANDBOX_REMOTE_URL" if settings.remote_url is None else ""
        missing = missing or "CLARA_SANDBOX_REMOTE_KEY"
        raise ConfigError(
            f"CLARA_SANDBOX_BACKEND is remote, so {missing} is required; it is not set"
        )
    if settings.work_mb * 2 > settings.memory_mb * 64:
        raise ConfigError(
            f"CLARA_SANDBOX_WORK_MB ({settings.work_mb}) is out of proportion with "
            f"CLARA_SANDBOX_MEMORY_MB ({settings.memory_mb}): at most 32 times the memory"
        )


class ProactiveSettings(msgspec.Struct, frozen=True, kw_only=True):
    enabled: bool = True
    check_minutes: int = 30
    """The usual time between two checks of a person (the rules lengthen or shorten it)."""
    quiet_hours: str = "22-08"
    max_per_day: int = 3
    min_gap_minutes: int = 240
    min_check_minutes: int = 10
    max_check_hours: int = 24
    reply_window_hours: int = 12
    note_days: int = 10
    spread_minutes: int = 30
    idle_seconds: float = 300.0
    max_people: int = 10_000
    tier: str = "low"
    calendar_minutes: int = 60
    ops_per_minute: int = 10
    tick_seconds: float = 30.0
    active_days: int = 30
    private_feeds: bool = False
    """Calendar feeds on this machine or a private network are allowed (a test, a LAN)."""

    def __post_init__(self) -> None:
        if self.min_check_minutes > self.max_check_hours * 60:
            raise ConfigError(
                f"CLARA_PROACTIVE_MIN_CHECK_MINUTES ({self.min_check_minutes}) is longer than "
                f"CLARA_PROACTIVE_MAX_CHECK_HOURS ({self.max_check_hours} h)"
            )


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
    mailroom: MailroomSettings = msgspec.field(default_factory=MailroomSettings)
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
        if self.email.oauth_providers is not None:
            # Each client secret alone, as the JSON around it is never what is echoed.
            found.extend(_client_secrets(self.email.oauth_providers.reveal()))
        return found


def _client_secrets(providers_json: str) -> list[str]:
    """The ``client_secret`` strings of CLARA_EMAIL_OAUTH_PROVIDERS (nothing if unreadable:
    the providers' own check reports that)."""
    try:
        providers = json.loads(providers_json)
    except (ValueError, RecursionError):
        return []
    if not isinstance(providers, dict):
        return []
    found = (entry.get("client_secret") for entry in providers.values() if isinstance(entry, dict))
    return [secret for secret in found if isinstance(secret, str) and secret]


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
    "mailroom",
    "sandbox",
    "proactive",
)
