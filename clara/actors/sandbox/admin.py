"""``/sandbox status|reset`` for everyone, ``/sandbox mode|network`` for administrators.

One function, ``SandboxAdmin.run``, behind the slash commands:

- ``status``: the person's own sandbox (its state, runs, the storage its files take) and
  this server's choices;
- ``reset``: remove the person's sandbox and its files (asks for ``confirm`` first);
- ``mode off|admins|everyone``: who may use the code tools on this server (administrators);
- ``network on|off``: whether this server's sandboxes have a network (administrators);
  package installs need it, and a proxy.

Each person may run ``CLARA_SANDBOX_OPS_PER_MINUTE`` of them a minute; every one, done or
refused, is written to the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...adapters.chat import Author
from ...config import DiscordSettings, SandboxSettings
from ...errors import AskTimeout
from ...store import Database, SandboxPolicy, SandboxRunTotals, sandbox_run_totals
from ...supervisors import DynamicSupervisor
from ..policy import UserRates, is_admin, run_audited
from .messages import Usage, UsageReport
from .policies import SandboxPolicies

__all__ = ["OPERATIONS", "SandboxAdmin"]

OPERATIONS: dict[str, str] = {
    "status": "your sandbox: its state, runs and the storage its files take",
    "reset": "remove your sandbox and every file in it",
    "mode": "admin: who may run code on this server: off, admins or everyone",
    "network": "admin: whether sandboxes on this server have a network: on or off",
}
_ADMIN_ONLY = frozenset({"mode", "network"})
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass
class SandboxAdmin:
    """The operations, their checks, their audit."""

    sandboxes: DynamicSupervisor
    policies: SandboxPolicies
    sandbox: SandboxSettings
    discord: DiscordSettings
    database: Database | None = None
    backend: str = "none"
    rates: UserRates = field(default_factory=UserRates)

    def is_admin(self, author: Author) -> bool:
        return is_admin(author, self.discord)

    async def run(
        self,
        name: str,
        options: dict[str, Any],
        author: Author,
        *,
        platform: str,
        channel_id: str,
        guild_id: str | None,
    ) -> str:
        """Run ``/sandbox name`` for ``author``; the text to show them."""
        who = f"{platform}:{author.id}"
        target = f"{platform}:{guild_id}" if name in _ADMIN_ONLY and guild_id else who
        details = {key: str(value)[:100] for key, value in options.items() if value is not None}
        details["channel"] = channel_id
        if name not in OPERATIONS:
            return f"There is no /sandbox {name}; try one of: {', '.join(OPERATIONS)}."
        if self.backend == "none":
            return (
                "Running code is turned off on this Clara (CLARA_SANDBOX_BACKEND is none, or "
                "auto found no engine and no bubblewrap): there is no sandbox to show or change."
            )
        per_minute = self.sandbox.ops_per_minute
        return await run_audited(
            self.database,
            action=f"sandbox.{name}",
            who=who,
            target=target,
            details=details,
            rates=self.rates,
            per_minute=per_minute,
            too_many=(
                f"Too many /sandbox commands: {per_minute} a minute at most. Try again in a moment."
            ),
            refusal=self._refusal(name, author, guild_id) if name in _ADMIN_ONLY else None,
            work=lambda: self._do(name, options, who, platform, guild_id),
            failed=lambda error: f"/sandbox {name} failed: {error}",
        )

    def _refusal(self, name: str, author: Author, guild_id: str | None) -> str | None:
        if guild_id is None:
            return f"/sandbox {name} is a server's setting: use it in a server, not in a DM."
        if not self.is_admin(author):
            role = f" or the {self.discord.admin_role} role" if self.discord.admin_role else ""
            return f"Only server administrators{role} can change /sandbox {name}."
        return None

    async def _do(
        self, name: str, options: dict[str, Any], who: str, platform: str, guild_id: str | None
    ) -> tuple[str, str]:
        if name == "status":
            return await self._status(who, platform, guild_id), "done"
        if name == "reset":
            return await self._reset(who, options)
        assert guild_id is not None
        if name == "mode":
            mode = str(options.get("mode") or "").strip().lower()
            if not mode:
                policy = await self.policies.get(platform, guild_id)
                return f"Code tools on this server: {_mode_words(policy)}.", "done"
            if mode not in ("off", "admins", "everyone"):
                raise ValueError(f"mode must be off, admins or everyone; got {mode!r}")
            policy = await self.policies.change(platform, guild_id, by=who, mode=mode)
            return f"Code tools on this server: {_mode_words(policy)}.", "done"
        value = options.get("network")
        if value is None or str(value).strip() == "":
            policy = await self.policies.get(platform, guild_id)
            return _network_words(policy, self.sandbox), "done"
        network = _on_off(value)
        policy = await self.policies.change(platform, guild_id, by=who, network=network)
        return _network_words(policy, self.sandbox) + (
            " Sandboxes already running are made again on their next run (their files are lost)."
        ), "done"

    async def _status(self, who: str, platform: str, guild_id: str | None) -> str:
        lines = []
        ref = self.sandboxes.get(who)
        report: UsageReport | None = None
        if ref is not None:
            details = ref.statistics().details or {}
            if details.get("state") == "running":  # do not wait behind the run
                return "Your sandbox: running code now; ask again when it is done."
            try:
                report = await ref.ask(Usage(), timeout=self.sandbox.timeout)
            except AskTimeout:
                return "Your sandbox: busy; ask again in a moment."
        if report is None or report.state == "none":
            lines.append("Your sandbox: none running (one is made when you next run code).")
        else:
            used = "unknown" if report.used_bytes is None else _size(report.used_bytes)
            lines.append(
                f"Your sandbox: {report.state}, {report.runs} runs since it started, "
                f"{used} of {self.sandbox.work_mb} MiB used in {report.files or 0} files, "
                f"network {'on' if report.network else 'off'} ({self.backend})."
            )
        if self.database is not None:
            totals: SandboxRunTotals = await self.database.run(
                sandbox_run_totals, platform, who.partition(":")[2]
            )
            last = (
                totals.last_started_at.strftime("%Y-%m-%d %H:%M UTC")
                if totals.last_started_at
                else "never"
            )
            lines.append(f"Runs recorded: {totals.runs} (last: {last}).")
        if guild_id is not None:
            policy = await self.policies.get(platform, guild_id)
            network = "on" if policy.network else "off"
            lines.append(f"On this server: {_mode_words(policy)}; network {network}.")
        return "\n".join(lines)

    async def _reset(self, who: str, options: dict[str, Any]) -> tuple[str, str]:
        confirm = options.get("confirm")
        if confirm is None or not _on_off(confirm):
            return (
                "This removes your sandbox and every file in it. To go ahead: "
                "/sandbox reset confirm:True",
                "asked",
            )
        if self.sandboxes.get(who) is None:
            return "You have no sandbox running: nothing to reset.", "done"
        await self.sandboxes.terminate_child(who)
        return (
            "Your sandbox and its files were removed; a fresh one is made on your next run.",
            "done",
        )


def _on_off(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected on or off; got {text!r}")


def _mode_words(policy: SandboxPolicy) -> str:
    return {
        "off": "off for everyone",
        "admins": "administrators only",
        "everyone": "open to everyone",
    }[policy.mode]


def _network_words(policy: SandboxPolicy, settings: SandboxSettings) -> str:
    if not policy.network:
        return "Sandboxes on this server have no network (package installs are off)."
    installs = (
        "package installs go through the configured proxy"
        if settings.proxy_url
        else "package installs stay off: no proxy is configured (CLARA_SANDBOX_PROXY_URL)"
    )
    return f"Sandboxes on this server have a network; {installs}."


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / 1024 / 1024:.1f} MiB"
