"""The registry's second half: the variables of Clara's features (memory, MCP servers, email,
the mailroom); the sandboxes' and the proactive engine's are in modules of their own.
``variables`` adds them all after the core ones."""

from __future__ import annotations

import re

from .addresses import host, url
from .mcp_values import container_engine, container_network, npm_registry, path_roots
from .tokens import secret
from .values import (
    Parser,
    Secret,
    boolean,
    choice,
    id_list,
    integer,
    seconds,
    text,
    text_list,
)
from .var import SECONDS, Var

__all__ = ["FEATURE_VARIABLES"]


def _secret_text(name: str, raw: str) -> Secret:
    """Text that may hold secrets (a JSON document with client secrets): kept whole and
    never shown; its reader checks its form (``clara.adapters.email.oauth_providers``)."""
    return Secret(raw.strip())


_DECIMAL = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


_SECONDS = SECONDS

FEATURE_VARIABLES: tuple[Var, ...] = (
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
        path_roots,
        "absolute folders local-path MCP servers may be installed from, comma-separated "
        "(empty: DATA_DIR/mcp/local)",
        "",
    ),
    Var(
        "CLARA_MCP_CONTAINER_ENGINE",
        "mcp",
        "container_engine",
        container_engine,
        "container engine for image sources: podman or docker, or the absolute path of one "
        "(empty: none)",
        "",
    ),
    Var(
        "CLARA_MCP_CONTAINER_NETWORK",
        "mcp",
        "container_network",
        container_network,
        "network of image-source servers' containers: none (default), or an engine network "
        "such as bridge for servers that must reach out (never host)",
        "none",
    ),
    Var(
        "CLARA_MCP_NPM_REGISTRY",
        "mcp",
        "npm_registry",
        npm_registry,
        "npm registry installs use, https (http only on loopback; empty: npm's configured one)",
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
        "CLARA_MCP_BACKOFF_MIN",
        "mcp",
        "backoff_min",
        _SECONDS,
        "seconds before a crashed MCP server is started again; doubled (10% jitter) for each "
        "further crash before it has run CLARA_MCP_BACKOFF_RESET seconds, up to "
        "CLARA_MCP_BACKOFF_MAX",
        "0.5",
    ),
    Var(
        "CLARA_MCP_BACKOFF_MAX",
        "mcp",
        "backoff_max",
        _SECONDS,
        "the longest wait before a crashed MCP server is started again (also caps "
        "CLARA_MCP_BACKOFF_MIN)",
        "60",
    ),
    Var(
        "CLARA_MCP_BACKOFF_RESET",
        "mcp",
        "backoff_reset",
        _SECONDS,
        "seconds an MCP server must run without crashing before its next crash waits "
        "CLARA_MCP_BACKOFF_MIN again; /mcp restart resets the wait at once",
        "120",
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
    Var(
        "CLARA_EMAIL_IDLE_RENEW_SECONDS",
        "email",
        "idle_renew_seconds",
        seconds(maximum=1740.0),
        "how long one IMAP IDLE lasts before it is renewed (servers end it at 30 minutes)",
        "600",
    ),
    Var(
        "CLARA_EMAIL_FAILURE_THRESHOLD",
        "email",
        "failure_threshold",
        integer(1, 1000),
        "failures in a row before an account is in error and its owner told (once)",
        "5",
    ),
    Var(
        "CLARA_EMAIL_SLOW_RETRY_SECONDS",
        "email",
        "slow_retry_seconds",
        _SECONDS,
        "the wait before each new attempt of an account in error",
        "900",
    ),
    Var(
        "CLARA_EMAIL_LOGIN_RETRY_SECONDS",
        "email",
        "login_retry_seconds",
        _SECONDS,
        "the wait between logins after the server refused the password",
        "3600",
    ),
    Var(
        "CLARA_EMAIL_MAX_ALERT_ATTEMPTS",
        "email",
        "max_alert_attempts",
        integer(1, 100),
        "attempts at posting one alert before it is given up (as failed)",
        "5",
    ),
    Var(
        "CLARA_EMAIL_THREADS",
        "email",
        "threads",
        integer(1, 1024),
        "worker threads all accounts share (connects, fetches; an IDLE wait takes none)",
        "16",
    ),
    Var(
        "CLARA_EMAIL_PRIVATE_HOSTS",
        "email",
        "private_hosts",
        boolean,
        "let /email connect reach mail servers on this machine or the local network, and "
        "without TLS (off: only servers on the internet, over TLS)",
        "false",
    ),
    Var(
        "CLARA_EMAIL_GOOGLE_CLIENT_ID",
        "email",
        "google_client_id",
        text,
        "Clara's OAuth client id at Google: mail accounts sign in with /email connect "
        "provider:google (needs CLARA_EMAIL_GOOGLE_CLIENT_SECRET)",
    ),
    Var(
        "CLARA_EMAIL_GOOGLE_CLIENT_SECRET",
        "email",
        "google_client_secret",
        secret(8),
        "that client's secret",
    ),
    Var(
        "CLARA_EMAIL_MICROSOFT_CLIENT_ID",
        "email",
        "microsoft_client_id",
        text,
        "Clara's application (client) id at Microsoft Entra: Outlook and Microsoft 365 "
        "accounts sign in with /email connect provider:microsoft",
    ),
    Var(
        "CLARA_EMAIL_MICROSOFT_CLIENT_SECRET",
        "email",
        "microsoft_client_secret",
        secret(8),
        "that application's secret (a web app needs one; a public client has none)",
    ),
    Var(
        "CLARA_EMAIL_MICROSOFT_TENANT",
        "email",
        "microsoft_tenant",
        text,
        "the Entra tenant people sign in through: common, organizations, consumers, or "
        "a tenant id or domain",
        "common",
    ),
    Var(
        "CLARA_EMAIL_OAUTH_PROVIDERS",
        "email",
        "oauth_providers",
        Parser("text", _secret_text, secret=True),
        'more OAuth mail providers, a JSON object: {"name": {"authorization_url", '
        '"token_url", "scopes", "imap_host", "imap_port", "imap_tls", "client_id", '
        '"client_secret"}} (docs/email.md)',
    ),
    # mailroom: Clara's own inbox (docs/mailroom.md)
    Var(
        "CLARA_MAILROOM_ENABLED",
        "mailroom",
        "enabled",
        boolean,
        "Clara's own inbox: mail to Clara's address summarised to an operator channel; a "
        "drafted reply is sent only after an operator approves it",
        "false",
    ),
    Var(
        "CLARA_MAILROOM_ADDRESS",
        "mailroom",
        "address",
        text,
        "Clara's own email address: the mailbox read and the From of every reply",
    ),
    Var(
        "CLARA_MAILROOM_OPERATOR_CHANNEL",
        "mailroom",
        "operator_channel",
        text,
        "the channel id where summaries and drafts are posted and decided on",
    ),
    Var(
        "CLARA_MAILROOM_OPERATORS",
        "mailroom",
        "operators",
        id_list,
        "user ids who alone may approve, reject or edit replies; empty: server "
        "administrators (or CLARA_ADMIN_ROLE) in the operator channel",
    ),
    Var("CLARA_MAILROOM_IMAP_HOST", "mailroom", "imap_host", host, "Clara's IMAP server"),
    Var(
        "CLARA_MAILROOM_IMAP_PORT",
        "mailroom",
        "imap_port",
        integer(1, 65535),
        "its port",
        "993",
    ),
    Var(
        "CLARA_MAILROOM_IMAP_TLS",
        "mailroom",
        "imap_tls",
        boolean,
        "IMAP over TLS (false only to a loopback server)",
        "true",
    ),
    Var(
        "CLARA_MAILROOM_IMAP_USER",
        "mailroom",
        "imap_user",
        text,
        "the IMAP login (empty: the address)",
    ),
    Var(
        "CLARA_MAILROOM_IMAP_PASSWORD",
        "mailroom",
        "imap_password",
        secret(6),
        "the IMAP password (6+ printable ASCII characters, no spaces)",
    ),
    Var(
        "CLARA_MAILROOM_SMTP_HOST",
        "mailroom",
        "smtp_host",
        host,
        "the SMTP server approved replies are sent through",
    ),
    Var(
        "CLARA_MAILROOM_SMTP_PORT",
        "mailroom",
        "smtp_port",
        integer(1, 65535),
        "its port",
        "587",
    ),
    Var(
        "CLARA_MAILROOM_SMTP_SECURITY",
        "mailroom",
        "smtp_security",
        choice("starttls", "ssl", "plain"),
        "starttls (port 587), ssl (TLS from the start, port 465) or plain (with a login: "
        "loopback only)",
        "starttls",
    ),
    Var(
        "CLARA_MAILROOM_SMTP_AUTH",
        "mailroom",
        "smtp_auth",
        boolean,
        "log in to the SMTP server before sending (false: a relay that needs no login)",
        "true",
    ),
    Var(
        "CLARA_MAILROOM_SMTP_USER",
        "mailroom",
        "smtp_user",
        text,
        "the SMTP login (empty: the IMAP login)",
    ),
    Var(
        "CLARA_MAILROOM_SMTP_PASSWORD",
        "mailroom",
        "smtp_password",
        secret(6),
        "the SMTP password (empty: the IMAP password)",
    ),
    Var(
        "CLARA_MAILROOM_TIMEOUT",
        "mailroom",
        "timeout",
        _SECONDS,
        "seconds an IMAP command or an SMTP exchange may take",
        "30",
    ),
    Var(
        "CLARA_MAILROOM_TIER",
        "mailroom",
        "tier",
        choice("high", "mid", "low"),
        "the model tier that summarises mail and drafts replies",
        "mid",
    ),
    Var(
        "CLARA_MAILROOM_MAX_SEND_ATTEMPTS",
        "mailroom",
        "max_send_attempts",
        integer(1, 100),
        "attempts at sending one approved reply before it is failed (approve it again to retry)",
        "8",
    ),
    Var(
        "CLARA_MAILROOM_RETRY_SECONDS",
        "mailroom",
        "retry_seconds",
        _SECONDS,
        "the first wait after a failed send (or model call), doubled after each failure",
        "30",
    ),
    Var(
        "CLARA_MAILROOM_RETRY_MAX_SECONDS",
        "mailroom",
        "retry_max_seconds",
        _SECONDS,
        "the longest wait between retries",
        "3600",
    ),
    Var(
        "CLARA_MAILROOM_OPS_PER_MINUTE",
        "mailroom",
        "ops_per_minute",
        integer(1, 1000),
        "mailroom commands one operator may run a minute",
        "10",
    ),
)
