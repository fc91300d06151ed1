"""Each server's sandbox choices (who may run code, whether sandboxes have a network), read
from the store and kept in memory.

The tool list for a reply is built synchronously, so it uses what is known already
(``known``); every call checks again with ``get``, which reads the store the first time a
server is asked about. ``/sandbox mode|network`` write through ``change``, which updates
both. A DM has no server: everyone may run code there, never with a network.
"""

from __future__ import annotations

from ...adapters.chat import Author
from ...store import Database, SandboxPolicy, load_sandbox_policy, save_sandbox_policy

__all__ = ["SandboxPolicies", "refusal"]

#: Servers whose choices are kept in memory at most (the oldest read is forgotten first).
_KEEP = 10_000


class SandboxPolicies:
    """The cache of servers' choices over the store (None: in memory only, for tests)."""

    def __init__(self, database: Database | None) -> None:
        self.database = database
        self._known: dict[tuple[str, str], SandboxPolicy] = {}

    def known(self, platform: str, guild_id: str | None) -> SandboxPolicy | None:
        if guild_id is None:
            return SandboxPolicy()
        return self._known.get((platform, guild_id))

    async def get(self, platform: str, guild_id: str | None) -> SandboxPolicy:
        if guild_id is None:
            return SandboxPolicy()
        cached = self._known.get((platform, guild_id))
        if cached is not None:
            return cached
        policy = SandboxPolicy()
        if self.database is not None:
            policy = await self.database.run(load_sandbox_policy, platform, guild_id)
        self._remember(platform, guild_id, policy)
        return policy

    async def change(
        self,
        platform: str,
        guild_id: str,
        *,
        by: str,
        mode: str | None = None,
        network: bool | None = None,
    ) -> SandboxPolicy:
        if self.database is not None:
            policy: SandboxPolicy = await self.database.run(
                save_sandbox_policy, platform, guild_id, by=by, mode=mode, network=network
            )
        else:
            old = await self.get(platform, guild_id)
            policy = SandboxPolicy(
                mode=old.mode if mode is None else mode,
                network=old.network if network is None else network,
            )
        self._remember(platform, guild_id, policy)
        return policy

    def _remember(self, platform: str, guild_id: str, policy: SandboxPolicy) -> None:
        if len(self._known) >= _KEEP:
            self._known.pop(next(iter(self._known)))
        self._known[(platform, guild_id)] = policy


def refusal(policy: SandboxPolicy, author: Author, *, is_admin: bool) -> str | None:
    """Why ``author`` may not run code under ``policy``; None when they may."""
    if policy.mode == "off":
        return "running code is turned off on this server (an administrator's /sandbox mode)"
    if policy.mode == "admins" and not is_admin:
        return "on this server only administrators may run code (/sandbox mode admins)"
    del author
    return None
