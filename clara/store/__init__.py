"""Persistence: SQLAlchemy 2 models, units of work, repositories, encryption at rest.

SQLite on a file by default (WAL, busy timeout); PostgreSQL through psycopg 3 when
``DATABASE_URL`` says so. Trio code reaches the database through ``Database.run``, which
does the work in a worker thread, bounded by the connection pool. Schema changes are
Alembic migrations (``python -m clara db upgrade``; ``run.py`` upgrades on start).

The runtime core (``clara.actors._core``, ``clara.supervisors``) never imports this package.
"""

from . import models
from ._conversations import (
    HistoryEntry,
    channel_config,
    conversation_summary,
    ensure_user,
    guild_config,
    message_text,
    recent_history,
    record_exchange,
    save_channel_config,
    save_guild_config,
    save_summary,
    unsummarized,
    user_time_zone,
)
from ._engine import database_url, make_engine
from ._mcp import (
    OAuthCredentials,
    StoredMcpServer,
    delete_mcp_server,
    load_mcp_server_secrets,
    load_mcp_servers,
    load_oauth_credentials,
    save_mcp_server,
    save_mcp_server_secrets,
    save_oauth_credentials,
    set_mcp_server_enabled,
)
from ._migrate import current_revision, head_revision, upgrade
from ._open import Store, open_store
from ._records import (
    ChannelConfig,
    GuildConfig,
    McpServerConfig,
    McpToolRecord,
    RecordProblem,
    decode_record,
    decode_records,
)
from ._repositories import (
    add_email_account,
    audit,
    email_password,
    load_conversation,
    load_oauth_token,
    mark_processed,
    record_email_alert,
    record_proactive_message,
    rotate_secrets,
    store_oauth_token,
)
from ._secrets import KEY_FILE, SecretBox, generate_key
from ._unit_of_work import Database

__all__ = [
    "KEY_FILE",
    "ChannelConfig",
    "Database",
    "GuildConfig",
    "HistoryEntry",
    "McpServerConfig",
    "McpToolRecord",
    "OAuthCredentials",
    "RecordProblem",
    "SecretBox",
    "Store",
    "StoredMcpServer",
    "add_email_account",
    "audit",
    "channel_config",
    "conversation_summary",
    "current_revision",
    "database_url",
    "decode_record",
    "decode_records",
    "delete_mcp_server",
    "email_password",
    "ensure_user",
    "generate_key",
    "guild_config",
    "head_revision",
    "load_conversation",
    "load_mcp_server_secrets",
    "load_mcp_servers",
    "load_oauth_credentials",
    "load_oauth_token",
    "make_engine",
    "mark_processed",
    "message_text",
    "models",
    "open_store",
    "recent_history",
    "record_email_alert",
    "record_exchange",
    "record_proactive_message",
    "rotate_secrets",
    "save_channel_config",
    "save_guild_config",
    "save_mcp_server",
    "save_mcp_server_secrets",
    "save_oauth_credentials",
    "save_summary",
    "set_mcp_server_enabled",
    "store_oauth_token",
    "unsummarized",
    "upgrade",
    "user_time_zone",
]
