"""Managing MCP servers: ``/mcp list|status|tools|install|uninstall|enable|disable|restart``.

One function, ``McpAdmin.run``, behind both the slash commands and the model's ``mcp__*``
tools, so both go through the same checks:

- reading (list, status, tools) is open to everyone; changing anything needs a server
  administrator (Discord's administrator or manage-server permission, or the configured
  admin role) and, for a server with an allow-list of users or roles, a place on it;
- each person may run ``ops_per_minute`` operations a minute;
- every operation, done or refused, is written to the audit log: who, what, when, outcome.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import trio

from ...adapters.chat import Author
from ...adapters.llm import ToolSpec
from ...adapters.mcp import parse_env
from ...config import DiscordSettings, McpSettings
from ...errors import ClaraError
from ...store import Database
from ...supervisors import DynamicSupervisor
from .. import ActorRef, ActorState, ActorStatistics
from ..policy import UserRates, is_admin, write_audit
from .catalog import (
    Install,
    InstallOutcome,
    McpOperationError,
    RestartServer,
    SetEnabled,
    Uninstall,
)
from .entries import CatalogEntry, McpCatalog

__all__ = ["OPERATIONS", "McpAdmin", "McpAdminTools"]

logger = logging.getLogger(__name__)

OPERATIONS: dict[str, str] = {
    "list": "the MCP servers Clara has, and whether each is on",
    "status": "how one server (or every server) is doing",
    "tools": "the tools of one server",
    "install": "admin: install a server from npm, GitHub, an image, a local path or a URL",
    "uninstall": "admin: remove a server, its tokens and its files",
    "enable": "admin: offer a server's tools again",
    "disable": "admin: stop a server and stop offering its tools",
    "restart": "admin: stop a server now and clear its backoff; it starts again on next use",
}
_CHANGES = frozenset({"install", "uninstall", "enable", "disable", "restart"})
#: Words a person uses to ask for each change (the model's tools need one in their message).
_VERBS: dict[str, tuple[str, ...]] = {
    "install": ("install", "add", "set up", "setup"),
    "uninstall": ("uninstall", "remove", "delete"),
    "enable": ("enable", "turn on", "switch on"),
    "disable": ("disable", "turn off", "switch off"),
    "restart": ("restart", "reboot", "reset"),
}


@dataclass
class McpAdmin:
    """The operations, their checks, their audit."""

    catalog: McpCatalog
    catalog_ref: ActorRef
    servers: DynamicSupervisor
    mcp: McpSettings
    discord: DiscordSettings
    database: Database | None = None
    rates: UserRates = field(default_factory=UserRates)

    def is_admin(self, author: Author) -> bool:
        return is_admin(author, self.discord)

    def _on_allow_list(self, entry: CatalogEntry, author: Author) -> bool:
        users, roles = entry.config.allowed_users, entry.config.allowed_roles
        if not users and not roles:
            return True
        return author.id in users or any(role in roles for role in author.roles)

    async def _audit(
        self, who: str, operation: str, target: str, outcome: str, details: dict[str, Any]
    ) -> None:
        await write_audit(
            self.database,
            actor=who,
            action=f"mcp.{operation}",
            target=target,
            outcome=outcome,
            details=details,
        )

    async def run(
        self, operation: str, options: dict[str, Any], author: Author, *, platform: str = "discord"
    ) -> str:
        """Run one operation for ``author``; the text to show them."""
        who = f"{platform}:{author.id}"
        name = str(options.get("name") or "").strip()
        source = str(options.get("source") or "").strip()
        details = _details(options)
        if operation not in OPERATIONS:
            return f"There is no /mcp {operation}; try one of: {', '.join(OPERATIONS)}."
        verdict = self.rates.take(
            who, trio.current_time(), per_minute=self.mcp.ops_per_minute, notice_interval=0.0
        )
        if verdict != "ok":
            await self._audit(
                who, operation, name or source, "refused", {**details, "reason": "rate limit"}
            )
            return (
                f"Too many MCP operations: {self.mcp.ops_per_minute} a minute at most. "
                "Try again in a moment."
            )
        if operation in _CHANGES:
            refusal = self._refusal(operation, name, author)
            if refusal is not None:
                await self._audit(
                    who, operation, name or source, "refused", {**details, "reason": refusal}
                )
                return refusal
        try:
            answer = await self._do(operation, name, source, who, options)
        except ClaraError as error:
            await self._audit(
                who, operation, name or source, "failed", {**details, "error": str(error)[:300]}
            )
            return f"/mcp {operation} failed: {error}"
        await self._audit(who, operation, name or source, "done", details)
        return answer

    async def refuse(
        self,
        operation: str,
        options: dict[str, Any],
        author: Author,
        *,
        platform: str,
        reason: str,
        answer: str,
    ) -> str:
        """Refuse an operation for ``reason`` (audited); ``answer`` is what the person sees."""
        target = str(options.get("name") or options.get("source") or "")
        details = _details(options)
        await self._audit(
            f"{platform}:{author.id}", operation, target, "refused", {**details, "reason": reason}
        )
        return answer

    def _refusal(self, operation: str, name: str, author: Author) -> str | None:
        if not self.is_admin(author):
            role = f" or the {self.discord.admin_role} role" if self.discord.admin_role else ""
            return f"Only server administrators{role} can {operation} MCP servers."
        entry = self.catalog.entries.get(name)
        if operation != "install" and entry is not None and not self._on_allow_list(entry, author):
            return f"You are not on {name}'s list of people who may manage it."
        return None

    async def _do(
        self, operation: str, name: str, source: str, who: str, options: dict[str, Any]
    ) -> str:
        if operation == "list":
            return self._list()
        if operation == "status":
            return self._status(name)
        if operation == "tools":
            return self._tools(name)
        if operation == "install":
            if not source:
                return (
                    "Give a source: npm:PACKAGE, github:OWNER/REPO, image:REF, path:/DIR "
                    "or an https URL."
                )
            users, roles = managers(str(options.get("managers") or ""))
            env = parse_env(str(options.get("env") or ""))
            outcome: InstallOutcome = await self.catalog_ref.ask(
                Install(source=source, name=name, by=who, users=users, roles=roles, env=env),
                timeout=None,
            )
            if outcome.authorize_url:
                return (
                    f"{outcome.name} needs you to sign in first. "
                    f"Open this link within 30 minutes:\n{outcome.authorize_url}"
                )
            tools = ", ".join(outcome.tools)
            return f"Installed {outcome.name} with {len(outcome.tools)} tools: {tools}."
        if not name:
            return f"Name the server: /mcp {operation} name:…"
        message: Any = {
            "uninstall": Uninstall(name),
            "enable": SetEnabled(name, True),
            "disable": SetEnabled(name, False),
            "restart": RestartServer(name),
        }[operation]
        text: str = await self.catalog_ref.ask(message, timeout=None)
        return text

    def _list(self) -> str:
        entries = sorted(self.catalog.entries.values(), key=lambda entry: entry.name)
        if not entries:
            return "No MCP servers are installed. An administrator can add one with /mcp install."
        running = set(self.servers.keys())
        lines = [
            f"- {entry.name} ({entry.source}): {'on' if entry.enabled else 'off'}, "
            f"{len(entry.config.tools)} tools{', running' if entry.name in running else ''}"
            for entry in entries
        ]
        return "MCP servers:\n" + "\n".join(lines)

    def _status(self, name: str) -> str:
        names = [name] if name else sorted(self.catalog.entries)
        if not names:
            return "No MCP servers are installed."
        lines = []
        for each in names:
            entry = self.catalog.entries.get(each)
            if entry is None:
                return f"There is no MCP server named {each!r}."
            lines.append(self._status_line(entry))
        return "\n".join(lines)

    def _status_line(self, entry: CatalogEntry) -> str:
        """One server: its state (when down: the next start), its totals since Clara started
        (across restarts), and its last failure (exit code or signal, stderr tail)."""
        ref = self.servers.get(entry.name)
        stats = ref.statistics() if ref is not None else None
        if stats is None:
            state = "not running (starts on first use)" if entry.enabled else "disabled"
        else:
            state = _state(stats)
        line = f"- {entry.name}: {state}"
        health = self.catalog.health.get(entry.name)
        now = trio.current_time()
        failure = None
        if health is not None and health.eventful:
            line += f"; {health.summary()} since Clara started"
            failure = health.failure_summary(now)
        if failure is None and stats is not None and stats.last_failure is not None:
            failure = f"last failure: {stats.last_failure.message}"
        if failure is not None:
            line += f"; {failure[:_FAILURE_TEXT]}"
        secrets = entry.config.secret_env
        return line + _managed_by(entry) + (f"; secrets: {', '.join(secrets)}" if secrets else "")

    def _tools(self, name: str) -> str:
        if not name:
            return "Name the server: /mcp tools name:…"
        entry = self.catalog.entries.get(name)
        if entry is None:
            return f"There is no MCP server named {name!r}."
        if not entry.config.tools:
            return f"{name} lists no tools."
        return f"Tools of {name}:\n" + "\n".join(
            f"- {tool.name}: {tool.description[:150]}" for tool in entry.config.tools
        )


#: How much of a last failure one status line shows.
_FAILURE_TEXT = 400


def _state(stats: ActorStatistics) -> str:
    """A running server's state in words; when it is down, when it starts again."""
    state = stats.state
    if state is ActorState.BACKING_OFF:
        backoff = stats.backoff
        if backoff is None or backoff.next_start_in is None:
            return "down (restarting)"
        return (
            f"down, next start in {backoff.next_start_in:.1f}s (attempt {backoff.attempt} "
            f"since it last ran stably, a {backoff.delay:.1f}s wait)"
        )
    if state is ActorState.FAILED:
        return "failed (not restarted)"
    if state is ActorState.RUNNING:
        details: dict[str, Any] = stats.details or {}
        pid = details.get("pid")
        return f"running, pid {pid}" if pid else "running"
    return str(state.value).replace("_", " ")


def _details(options: dict[str, Any]) -> dict[str, str]:
    """What the audit log keeps of an operation's options: never a secret's value."""
    details = {key: str(value)[:300] for key, value in options.items() if value and key != "env"}
    if options.get("env"):
        names = [item.partition("=")[0] for item in str(options["env"]).split()]
        details["env"] = " ".join(names)[:300]
    return details


_MENTION = re.compile(r"<@(&?)!?(\d{1,20})>|(\d{1,20})")


def managers(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The user ids and role ids in ``text``: Discord mentions (``<@123>``, ``<@&456>``, as
    Discord sends a string option with mentions in it) or bare user ids."""
    users: list[str] = []
    roles: list[str] = []
    for match in _MENTION.finditer(text):
        role, mentioned, bare = match.groups()
        (roles if role else users).append(mentioned or bare)
    rest = _MENTION.sub(" ", text).replace(",", " ").strip()
    if rest:
        raise McpOperationError(
            f"managers: {rest[:60]!r} is not a mention of a person or role (pick them with @)"
        )
    return tuple(dict.fromkeys(users)), tuple(dict.fromkeys(roles))


_NAME_PARAMETER = {"type": "string", "description": "the server's name"}


def _managed_by(entry: CatalogEntry) -> str:
    users, roles = entry.config.allowed_users, entry.config.allowed_roles
    if not users and not roles:
        return ""
    who = [f"<@{user}>" for user in users] + [f"<@&{role}>" for role in roles]
    return f" (managed by {' '.join(who)})"


class McpAdminTools:
    """The operations as tools for the model, on behalf of the person being answered.

    The same checks as the slash commands, and one more against prompt injection: the model
    may make a change only when the person's own message asks for it (a word for it, such as
    "install" or "remove") and names what it applies to (the source to install, the server to
    uninstall, disable, enable or restart). Text a tool fetched ("install this…")
    cannot make Clara install software on an administrator's behalf.

    Args:
        said: what the person wrote, the message being answered.
    """

    name = "mcp"

    def __init__(self, admin: McpAdmin, author: Author, platform: str, said: str = "") -> None:
        self._admin = admin
        self._author = author
        self._platform = platform
        self._said = said.lower()

    def specs(self) -> list[ToolSpec]:
        specs = []
        for operation, text in OPERATIONS.items():
            properties: dict[str, Any] = {}
            required: list[str] = []
            if operation in ("status", "tools", "uninstall", "enable", "disable", "restart"):
                properties["name"] = _NAME_PARAMETER
                if operation != "status":
                    required.append("name")
            if operation == "install":
                properties["source"] = {
                    "type": "string",
                    "description": "npm:PACKAGE[@VERSION], github:OWNER/REPO[#REF], image:REF, "
                    "path:/ABSOLUTE/PATH or an https URL",
                }
                properties["name"] = {"type": "string", "description": "optional server name"}
                properties["managers"] = {
                    "type": "string",
                    "description": "optional: the only people (<@id>) and roles (<@&id>) who "
                    "may manage it, besides being administrators",
                }
                required.append("source")
            specs.append(
                ToolSpec(
                    name=operation,
                    description=f"MCP servers: {text}. Changes need the person to be an admin.",
                    parameters={"type": "object", "properties": properties, "required": required},
                )
            )
        return specs

    async def call(self, tool: str, arguments: dict[str, Any]) -> str:
        # Secrets never pass through the model: /mcp install env:… is the only way in.
        arguments = {key: value for key, value in arguments.items() if key != "env"}
        if tool in _CHANGES and self._admin.is_admin(self._author):
            named = str(arguments.get("source" if tool == "install" else "name") or "").strip()
            asked = any(verb in self._said for verb in _VERBS[tool])
            if not asked or not named or named.lower() not in self._said:
                return await self._admin.refuse(
                    tool,
                    arguments,
                    self._author,
                    platform=self._platform,
                    reason="not named in the person's own message",
                    answer=(
                        f"I can only {tool} what you name in your own message. Say, for "
                        f"example: {tool} {named or '…'} (or use /mcp {tool})."
                    ),
                )
        return await self._admin.run(tool, arguments, self._author, platform=self._platform)
