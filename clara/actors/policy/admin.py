"""Who counts as an administrator, and the audit log's one writer for actors and commands."""

from __future__ import annotations

from typing import Any

from ...adapters.chat import Author
from ...config import DiscordSettings
from ...store import Database, audit

__all__ = ["is_admin", "write_audit"]


def is_admin(author: Author, settings: DiscordSettings) -> bool:
    """A server administrator (or Manage Server, or alone in a DM), or holds the admin role."""
    role = settings.admin_role
    return author.is_admin or (bool(role) and role in author.roles)


async def write_audit(
    database: Database | None,
    *,
    actor: str,
    action: str,
    target: str,
    outcome: str,
    details: dict[str, Any],
) -> None:
    """Append one entry to the audit log (nothing without a store)."""
    if database is None:
        return
    await database.run(
        lambda session: audit(
            session, actor=actor, action=action, target=target, outcome=outcome, details=details
        )
    )
