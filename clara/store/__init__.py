"""Persistence: SQLAlchemy 2 models, units of work, repositories, encryption at rest.

SQLite on a file by default (WAL, busy timeout); PostgreSQL through psycopg 3 when
``DATABASE_URL`` says so. Trio code reaches the database through ``Database.run``, which
does the work in a worker thread, bounded by the connection pool, and writes through
``Database.write`` / ``write_soon``: one writer thread, many writes to a transaction.
Schema changes are Alembic migrations (``python -m clara db upgrade``; ``run.py`` upgrades
on start).

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
    save_channel_config,
    save_guild_config,
    save_summary,
    unsummarized,
    user_time_zone,
)
from ._engine import database_url, make_engine
from ._exchanges import Exchange, Turn, record_exchange, record_exchanges, save_exchange
from ._health import StoreHealth
from ._history import (
    ChannelPlace,
    ChatLine,
    channel_messages,
    channel_place,
    dm_channels,
    search_messages,
    server_channels,
)
from ._inbox import (
    FINISHED_STATES,
    OPEN_STATES,
    InboxEntry,
    channels_with_open_messages,
    claim_message,
    finish_messages,
    known_messages,
    note_piece,
    open_messages,
    prune_inbox,
    recent_channels,
    recently_finished,
    save_reply,
    start_replying,
)
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
    record_email_alert,
    record_proactive_message,
    rotate_secrets,
    store_oauth_token,
)
from ._secrets import KEY_FILE, SecretBox, generate_key
from ._unit_of_work import Database
from ._writer import PendingWrite, WriterStatistics, runs_together

__all__ = [
    "FINISHED_STATES",
    "KEY_FILE",
    "OPEN_STATES",
    "ChannelConfig",
    "ChannelPlace",
    "ChatLine",
    "Database",
    "Exchange",
    "GuildConfig",
    "HistoryEntry",
    "InboxEntry",
    "McpServerConfig",
    "McpToolRecord",
    "OAuthCredentials",
    "PendingWrite",
    "RecordProblem",
    "SecretBox",
    "Store",
    "StoreHealth",
    "StoredMcpServer",
    "Turn",
    "WriterStatistics",
    "add_email_account",
    "audit",
    "channel_config",
    "channel_messages",
    "channel_place",
    "channels_with_open_messages",
    "claim_message",
    "conversation_summary",
    "current_revision",
    "database_url",
    "decode_record",
    "decode_records",
    "delete_mcp_server",
    "dm_channels",
    "email_password",
    "ensure_user",
    "finish_messages",
    "generate_key",
    "guild_config",
    "head_revision",
    "known_messages",
    "load_conversation",
    "load_mcp_server_secrets",
    "load_mcp_servers",
    "load_oauth_credentials",
    "load_oauth_token",
    "make_engine",
    "message_text",
    "models",
    "note_piece",
    "open_messages",
    "open_store",
    "prune_inbox",
    "recent_channels",
    "recent_history",
    "recently_finished",
    "record_email_alert",
    "record_exchange",
    "record_exchanges",
    "record_proactive_message",
    "rotate_secrets",
    "runs_together",
    "save_channel_config",
    "save_exchange",
    "save_guild_config",
    "save_mcp_server",
    "save_mcp_server_secrets",
    "save_oauth_credentials",
    "save_reply",
    "save_summary",
    "search_messages",
    "server_channels",
    "set_mcp_server_enabled",
    "start_replying",
    "store_oauth_token",
    "unsummarized",
    "upgrade",
    "user_time_zone",
]
