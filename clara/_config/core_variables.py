"""The core areas' variables (runtime, logging, status, database, encryption, Discord, LLM).

Data only: one ``Var`` per setting, in README order. ``variables.py`` merges these with the
features' (``feature_variables.py``) into the one registry, ``VARIABLES``.
"""

from __future__ import annotations

import base64
import binascii

from ..errors import ConfigError
from .addresses import host, url
from .dsn import dsn
from .folders import data_folder
from .settings import DEFAULT_MODELS, LLM_PROVIDERS
from .tokens import secret, secret_list
from .values import (
    boolean,
    choice,
    id_list,
    integer,
    mask,
    seconds,
    text,
    text_list,
    tier_models,
)
from .var import SECONDS, Var

__all__ = ["CORE_VARIABLES", "Var"]


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


_SECONDS = SECONDS
#: Sent to SQLite and PostgreSQL in milliseconds, as 32-bit integers: a day is plenty, and
#: far below where they overflow.
_DATABASE_SECONDS = seconds(maximum=86_400.0)
_LLM_URL = url("http", "https")

CORE_VARIABLES: tuple[Var, ...] = (
    # runtime
    Var(
        "CLARA_DATA_DIR",
        "runtime",
        "data_dir",
        data_folder,
        "where Clara keeps its SQLite database, embedded Qdrant and key file (made readable "
        "by its owner only)",
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
        "bearer token every request must carry (16+ printable ASCII characters, no spaces)",
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
        _DATABASE_SECONDS,
        "SQLite: seconds to wait for a lock before failing",
        "5",
    ),
    Var(
        "CLARA_DB_STATEMENT_TIMEOUT",
        "database",
        "statement_timeout",
        _DATABASE_SECONDS,
        "PostgreSQL: seconds one statement may run before the server cancels it (a worker "
        "thread is never stuck on a runaway query)",
        "30",
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
        "CLARA_DISCORD_COMMAND_GUILDS",
        "discord",
        "command_guilds",
        id_list,
        "server ids that get the slash commands at once at start (a global registration, "
        "the default, can take up to an hour to reach every server)",
    ),
    Var(
        "CLARA_DISCORD_STOP_PHRASES",
        "discord",
        "stop_phrases",
        text_list,
        "phrases that stop the speaker's running reply and queued messages (an "
        "administrator's: everyone's)",
        "clara stop,nevermind",
    ),
    Var(
        "CLARA_DISCORD_USER_RATE",
        "discord",
        "user_rate_per_minute",
        integer(1),
        "messages per minute a user may address to Clara; beyond, their messages are skipped, "
        "with one notice saying so and for how long",
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
    Var(
        "CLARA_GUILD_READY_TIMEOUT",
        "discord",
        "guild_ready_timeout",
        SECONDS,
        "seconds discord.py waits for the servers' data after connecting before Clara counts "
        "as connected (more servers may want more)",
        "2",
    ),
    Var(
        "CLARA_RESUME_WINDOW",
        "discord",
        "resume_window",
        SECONDS,
        "seconds an unanswered message stays worth answering after a restart or a deploy "
        "(resumed from the inbox, or caught up from the channel's history)",
        "600",
    ),
    Var(
        "CLARA_RESUME_NOTE",
        "discord",
        "resume_note",
        boolean,
        "whether an unanswered message older than the resume window gets one short note "
        "that Clara restarted (false: it is closed silently)",
        "true",
    ),
    Var(
        "CLARA_DRAIN_TIMEOUT",
        "discord",
        "drain_timeout",
        seconds(allow_zero=True),
        "seconds a SIGTERM lets running replies finish; what is queued stays in the inbox "
        "for the next start",
        "30",
    ),
    Var(
        "CLARA_CATCHUP_LOOKBACK",
        "discord",
        "catchup_lookback",
        seconds(allow_zero=True),
        "at start, channels active within this many seconds are read for messages sent "
        "while Clara was down (0: no catch-up)",
        "3600",
    ),
    Var(
        "CLARA_CATCHUP_CHANNELS",
        "discord",
        "catchup_channels",
        integer(0, 1000),
        "at most this many channels are caught up at start",
        "50",
    ),
    Var(
        "CLARA_CATCHUP_MESSAGES",
        "discord",
        "catchup_messages",
        integer(1, 100),
        "at most this many messages are read per channel when catching up",
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
        "let a quick low-tier call choose the tier of each message that names none (a server "
        "may override it with /model auto)",
        "false",
    ),
)
