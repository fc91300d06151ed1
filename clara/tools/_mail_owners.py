"""Who has connected a mail account: the cheap check behind offering the mail tools.

The tools a reply may use are chosen synchronously, once per message, so asking the store
there would block the event loop. This index answers from memory instead; it is loaded from
the store (``refresh``), kept fresh by a periodic refresh, and told at once when an account
is connected (``note_connected``); a removed one drops out at the next refresh. It only
decides whether the tools are *offered*: every call still loads the asker's own accounts
from the store, so a stale index can never show anyone another person's mail.
"""

from __future__ import annotations

import logging

from ..store import Database, email_account_owners

__all__ = ["MailOwners"]

logger = logging.getLogger(__name__)


class MailOwners:
    """The set of ``(platform, platform_user_id)`` with at least one enabled account.

    Args:
        database: where accounts are stored.
    """

    def __init__(self, database: Database) -> None:
        self._database = database
        self._owners: set[tuple[str, str]] = set()
        self.loaded = False
        """Whether a refresh has succeeded yet (before that, nobody is offered the tools)."""

    def has_accounts(self, platform: str, platform_user_id: str) -> bool:
        """Whether that person has a connected account (as last loaded or told)."""
        return (platform, platform_user_id) in self._owners

    def note_connected(self, platform: str, platform_user_id: str) -> None:
        """An account was just connected for that person: offer them the tools at once."""
        self._owners.add((platform, platform_user_id))

    async def refresh(self) -> int:
        """Load the owners from the store; returns how many there are.

        Raises:
            Whatever the store raises (the previous set is kept).
        """
        owners = await self._database.run(email_account_owners)
        self._owners = owners
        if not self.loaded:
            logger.info("mail tools: %d people have connected accounts", len(owners))
        self.loaded = True
        return len(owners)

    def __len__(self) -> int:
        return len(self._owners)
