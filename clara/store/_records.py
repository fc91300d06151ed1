"""Settings stored as JSON: decoded with defaults for fields added later; broken ones skipped.

A record's JSON is decoded into a msgspec Struct. Fields that did not exist when it was
written take their defaults; unknown fields (from a newer Clara, or removed ones) are
ignored. A record that does not fit (a wrong type, a missing required field) is reported
with its table, id and field, and skipped: it never stops Clara from starting.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any, TypeVar

import msgspec

__all__ = [
    "ChannelConfig",
    "GuildConfig",
    "McpServerConfig",
    "McpToolRecord",
    "RecordProblem",
    "decode_record",
    "decode_records",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_PATH = re.compile(r"at `\$\.?([^`]*)`")


class RecordProblem(msgspec.Struct, frozen=True, kw_only=True):
    """A stored record that could not be read."""

    table: str
    record_id: int
    field: str
    """The JSON path of the offending field (``timeout``, ``env.HOME``), or ``(record)``."""
    message: str

    def __str__(self) -> str:
        return f"{self.table} record {self.record_id}: field {self.field}: {self.message}"


class ChannelConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Per-channel settings (reply mode and allow-lists)."""

    reply_mode: str = "mention"
    allowed_roles: list[str] = msgspec.field(default_factory=list)
    default_tier: str | None = None


class GuildConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Per-server settings."""

    default_tier: str = "mid"
    allowed_channels: list[str] = msgspec.field(default_factory=list)
    admin_roles: list[str] = msgspec.field(default_factory=list)
    auto_tier: bool | None = None
    """A low-tier call chooses each message's tier (``/model auto``); None: Clara's setting."""


class McpToolRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A tool as a server last listed it (so its tools are known before it runs)."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)


class McpServerConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How to run one MCP server, who may manage it, and the tools it last listed."""

    transport: str = "stdio"
    command: str = ""
    args: list[str] = msgspec.field(default_factory=list)
    env: dict[str, str] = msgspec.field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    call_timeout: float = 60.0
    allowed_users: list[str] = msgspec.field(default_factory=list)
    allowed_roles: list[str] = msgspec.field(default_factory=list)
    tools: list[McpToolRecord] = msgspec.field(default_factory=list)
    install_dir: str | None = None
    """The folder an installation made (removed on uninstall)."""
    oauth: bool = False
    """A remote server that needs OAuth: connections carry its (refreshed) access token."""
    oauth_client_id: str = ""
    installed_by: str = ""
    secret_env: list[str] = msgspec.field(default_factory=list)
    """Names of environment variables kept encrypted in ``mcp_server_secrets``."""


def decode_record(kind: type[T], table: str, record_id: int, data: Any) -> T | RecordProblem:
    """``data`` as a ``kind``, or the problem that stops it."""
    try:
        return msgspec.convert(data, type=kind, strict=False)
    except msgspec.ValidationError as error:
        text = str(error)
        match = _PATH.search(text)
        field = match.group(1) if match and match.group(1) else "(record)"
        message = _PATH.sub("", text).rstrip(" -")
        return RecordProblem(table=table, record_id=record_id, field=field, message=message)


def decode_records(
    kind: type[T], table: str, rows: Iterable[tuple[int, Any]]
) -> tuple[list[tuple[int, T]], list[RecordProblem]]:
    """Decode many records; log and collect each one that cannot be read, keep the rest."""
    good: list[tuple[int, T]] = []
    problems: list[RecordProblem] = []
    for record_id, data in rows:
        decoded = decode_record(kind, table, record_id, data)
        if isinstance(decoded, RecordProblem):
            logger.warning("skipped a stored record: %s", decoded)
            problems.append(decoded)
        else:
            good.append((record_id, decoded))
    return good, problems
