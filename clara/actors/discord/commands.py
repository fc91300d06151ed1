"""Slash commands, platform-neutral: what ``/clara``, ``/channel``, ``/model`` and ``/memory`` do.

``/mcp``, ``/email``, ``/mailroom`` and ``/sandbox`` are routed to their families' own
``McpAdmin``, ``EmailAdmin``, ``MailroomAdmin`` and ``SandboxAdmin``.

The Discord adapter maps its application commands onto ``run_command``; the checks live
here, once: administrative commands need the server's administrator or manage-server
permission, or the configured admin role, and every administrative attempt (refused or
done) is written to the audit log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

import clara

from ...adapters.chat import Author
from ...adapters.memory import memory_user_id
from ...config import DiscordSettings
from ...errors import ClaraError
from ...store import (
    Database,
    channel_config,
    guild_config,
    save_channel_config,
    save_guild_config,
)
from .. import ActorRef
from ..channel import SettingsChanged
from ..email import EMAIL_OPERATIONS, EmailAdmin
from ..mailroom import OPERATIONS as MAILROOM_OPERATIONS
from ..mailroom import MailroomAdmin
from ..mcp import OPERATIONS, McpAdmin
from ..memory import Forget, Recall
from ..policy import is_admin, write_audit
from ..proactive.admin import OPERATIONS as ORS_OPERATIONS
from ..proactive.admin import ProactiveAdmin
from ..sandbox import OPERATIONS as SANDBOX_OPERATIONS
from ..sandbox import SandboxAdmin
from .reports import channel_report, memory_report, model_report

__all__ = ["COMMANDS", "CommandDependencies", "Invocation", "run_command"]

logger = logging.getLogger(__name__)

COMMANDS = {
    ("clara", "help"): "what Clara can do, and these commands",
    ("clara", "info"): "Clara's version and this channel's settings",
    ("clara", "channel"): "this channel: reply mode, tier, queue and allow-lists",
    ("channel", "mode"): "admin: how Clara answers here: mention, active or off",
    ("model", "tier"): "admin: the default model tier here: high, mid or low",
    ("model", "status"): "the model providers, whether each answers, and the tier here",
    ("model", "auto"): "admin: let a quick low-tier call choose each message's tier here",
    ("memory", "search"): "what Clara remembers about you that matches a query",
    ("memory", "clear"): "forget everything Clara remembers about you (asks to confirm)",
    ("memory", "status"): "whether memory is on, and how it is doing",
    **{("mcp", operation): text for operation, text in OPERATIONS.items()},
    **{("email", operation): text for operation, text in EMAIL_OPERATIONS.items()},
    **{("mailroom", operation): text for operation, text in MAILROOM_OPERATIONS.items()},
    **{("sandbox", operation): text for operation, text in SANDBOX_OPERATIONS.items()},
    **{("ors", operation): text for operation, text in ORS_OPERATIONS.items()},
}

_MODES = ("mention", "active", "off")
_TIERS = ("high", "mid", "low")
_AUTO: dict[str, bool | None] = {"on": True, "off": False, "default": None}


@dataclass(frozen=True)
class Invocation:
    """Who ran which command where."""

    platform: str
    channel_id: str
    guild_id: str | None
    author: Author
    group: str
    name: str
    options: dict[str, Any]


@dataclass
class CommandDependencies:
    discord: DiscordSettings
    database: Database | None
    memory: ActorRef | None
    channel: Callable[[str], Awaitable[ActorRef]] | None = None
    started_at: float = 0.0
    mcp: McpAdmin | None = None
    llm: ActorRef | None = None
    email: EmailAdmin | None = None
    mailroom: MailroomAdmin | None = None
    sandbox: SandboxAdmin | None = None
    ors: ProactiveAdmin | None = None


async def _audit(
    deps: CommandDependencies, invocation: Invocation, outcome: str, details: dict[str, Any]
) -> None:
    await write_audit(
        deps.database,
        actor=f"{invocation.platform}:{invocation.author.id}",
        action=f"{invocation.group}.{invocation.name}",
        target=f"{invocation.platform}:{invocation.guild_id or '-'}:{invocation.channel_id}",
        outcome=outcome,
        details=details,
    )


async def run_command(invocation: Invocation, deps: CommandDependencies) -> str:
    """Run one command; the text to show the person who ran it (only to them)."""
    key = (invocation.group, invocation.name)
    if key not in COMMANDS:
        return f"I don't know /{invocation.group} {invocation.name}. Try /clara help."
    if key in (("channel", "mode"), ("model", "tier"), ("model", "auto")):
        return await _admin(invocation, deps)
    if invocation.group == "mcp":
        if deps.mcp is None:
            return "MCP servers are turned off (CLARA_MCP_ENABLED)."
        options = {key: value for key, value in invocation.options.items() if value}
        return await deps.mcp.run(
            invocation.name, options, invocation.author, platform=invocation.platform
        )
    family = _FAMILIES_OFF.get(invocation.group)
    if family is not None:
        admin_of, off = family
        return await _family_command(invocation, admin_of(deps), off)
    if key == ("clara", "help"):
        lines = _help_lines()
        return (
            "I'm Clara. Mention me (or talk to me in DMs) and I answer; start a message with "
            '!high, !mid or !low to choose how hard I think; say "clara stop" to stop me.\n'
            + "\n".join(lines)
        )
    if key == ("clara", "info"):
        return await _info(invocation, deps)
    if key == ("clara", "channel"):
        channel = await deps.channel(invocation.channel_id) if deps.channel else None
        return await channel_report(
            deps.database,
            invocation.platform,
            invocation.channel_id,
            invocation.guild_id,
            channel,
        )
    if key == ("model", "status"):
        config, guild = await _tier_configs(invocation, deps)
        return model_report(deps.llm, config or guild)
    if key == ("memory", "status"):
        return memory_report(deps.memory)
    if key == ("memory", "search"):
        return await _memory_search(invocation, deps)
    return await _memory_clear(invocation, deps)


#: Families with many commands: one help line each (the whole help fits in one message).
_FAMILIES = {
    "mcp": "Clara's tools from MCP servers (changes: admins only)",
    "email": "your own mail accounts and their alerts",
    "mailroom": "operators: replies to mail sent to Clara",
    "sandbox": "your code sandbox (mode, network: admins only)",
    "ors": "Clara reaching out to you on her own (server-wide: admins only)",
}


def _help_lines() -> list[str]:
    """``/clara help``: each command of the small groups, one line per family of the rest."""
    lines = [
        f"/{group} {name}: {text}"
        for (group, name), text in COMMANDS.items()
        if group not in _FAMILIES
    ]
    for family, summary in _FAMILIES.items():
        names = " | ".join(name for group, name in COMMANDS if group == family)
        lines.append(f"/{family} {names}: {summary}")
    return lines


class _FamilyAdmin(Protocol):
    """What runs one family's commands (``EmailAdmin``, ``MailroomAdmin``, ``SandboxAdmin``)."""

    async def run(
        self,
        name: str,
        options: dict[str, Any],
        author: Author,
        /,
        *,
        platform: str,
        channel_id: str,
        guild_id: str | None,
    ) -> str: ...


#: The families routed to their own admin: where the dependencies hold it, and the answer
#: when it is turned off.
_FAMILIES_OFF: dict[str, tuple[Callable[[CommandDependencies], _FamilyAdmin | None], str]] = {
    "email": (
        lambda deps: deps.email,
        "Email accounts are turned off here (CLARA_EMAIL_ENABLED).",
    ),
    "mailroom": (
        lambda deps: deps.mailroom,
        "Clara's own inbox is turned off (CLARA_MAILROOM_ENABLED).",
    ),
    "sandbox": (
        lambda deps: deps.sandbox,
        "Running code is turned off here (CLARA_SANDBOX_BACKEND).",
    ),
    "ors": (
        lambda deps: deps.ors,
        "Clara does not reach out on her own here (CLARA_PROACTIVE_ENABLED, or no store).",
    ),
}


async def _family_command(invocation: Invocation, admin: _FamilyAdmin | None, off: str) -> str:
    """Hand a family's command to its admin. Options left empty are left out; False (tls,
    confirm) is a choice, and stays."""
    if admin is None:
        return off
    given = {key: value for key, value in invocation.options.items() if value not in (None, "")}
    return await admin.run(
        invocation.name,
        given,
        invocation.author,
        platform=invocation.platform,
        channel_id=invocation.channel_id,
        guild_id=invocation.guild_id,
    )


async def _tier_configs(
    invocation: Invocation, deps: CommandDependencies
) -> tuple[str | None, str]:
    """This channel's own default tier (None: none set) and the server's."""
    if deps.database is None:
        return None, "mid"
    channel = await deps.database.run(channel_config, invocation.platform, invocation.channel_id)
    guild = await deps.database.run(guild_config, invocation.platform, invocation.guild_id)
    return channel.default_tier, guild.default_tier


async def _info(invocation: Invocation, deps: CommandDependencies) -> str:
    mode, tier = "mention", "mid"
    if deps.database is not None:
        channel = await deps.database.run(
            channel_config, invocation.platform, invocation.channel_id
        )
        guild = await deps.database.run(guild_config, invocation.platform, invocation.guild_id)
        mode = channel.reply_mode
        tier = channel.default_tier or guild.default_tier
    uptime = time.time() - deps.started_at if deps.started_at else 0
    return (
        f"Clara {clara.__version__}, up {uptime / 3600:.1f} h. Here: reply mode {mode}, "
        f"default tier {tier}; memory {'on' if deps.memory is not None else 'off'}."
    )


async def _admin(invocation: Invocation, deps: CommandDependencies) -> str:
    if not is_admin(invocation.author, deps.discord):
        await _audit(
            deps, invocation, "refused", {"reason": "not an administrator", **invocation.options}
        )
        role = f" or the {deps.discord.admin_role} role" if deps.discord.admin_role else ""
        return f"Only server administrators{role} can change that."
    if deps.database is None:
        return "Settings need the store, which is not available."
    if invocation.name == "auto":
        if invocation.guild_id is None:
            return (
                "Automatic tiers are set per server; here Clara's own setting "
                "(CLARA_LLM_AUTO_TIER) applies."
            )
        choice = str(invocation.options.get("mode", "")).lower()
        if choice not in _AUTO:
            return f"The mode must be one of {', '.join(_AUTO)}; got {choice!r}."
        answer = await _auto_tier(invocation, deps.database, invocation.guild_id, choice)
    elif invocation.group == "channel":
        mode = str(invocation.options.get("mode", "")).lower()
        if mode not in _MODES:
            return f"The mode must be one of {', '.join(_MODES)}; got {mode!r}."
        config = await deps.database.run(channel_config, invocation.platform, invocation.channel_id)
        updated = msgspec.structs.replace(config, reply_mode=mode)
        await deps.database.run(
            save_channel_config, invocation.platform, invocation.channel_id, updated
        )
        answer = f"Reply mode here is now {mode}."
    else:
        tier = str(invocation.options.get("tier", "")).lower()
        if tier not in _TIERS:
            return f"The tier must be one of {', '.join(_TIERS)}; got {tier!r}."
        if invocation.guild_id is not None:
            guild = await deps.database.run(guild_config, invocation.platform, invocation.guild_id)
            await deps.database.run(
                save_guild_config,
                invocation.platform,
                invocation.guild_id,
                msgspec.structs.replace(guild, default_tier=tier),
            )
            answer = f"The default tier on this server is now {tier}."
        else:
            config = await deps.database.run(
                channel_config, invocation.platform, invocation.channel_id
            )
            await deps.database.run(
                save_channel_config,
                invocation.platform,
                invocation.channel_id,
                msgspec.structs.replace(config, default_tier=tier),
            )
            answer = f"The default tier here is now {tier}."
    await _audit(deps, invocation, "done", dict(invocation.options))
    if deps.channel is not None:
        try:
            await (await deps.channel(invocation.channel_id)).tell(SettingsChanged())
        except ClaraError as error:
            logger.info("could not tell the channel its settings changed: %s", error)
    return answer


async def _auto_tier(invocation: Invocation, database: Database, guild_id: str, choice: str) -> str:
    """Save ``/model auto on|off|default`` for the server; the answer to show."""
    guild = await database.run(guild_config, invocation.platform, guild_id)
    await database.run(
        save_guild_config,
        invocation.platform,
        guild_id,
        msgspec.structs.replace(guild, auto_tier=_AUTO[choice]),
    )
    if choice == "default":
        return "Automatic tiers on this server now follow Clara's own setting."
    return f"Automatic tiers on this server are now {choice}."


async def _memory_search(invocation: Invocation, deps: CommandDependencies) -> str:
    if deps.memory is None:
        return "Memory is turned off."
    query = str(invocation.options.get("query", "")).strip()
    if not query:
        return "Tell me what to look for: /memory search query:…"
    found: list[str] = await deps.memory.ask(
        Recall(user_id=memory_user_id(invocation.platform, invocation.author.id), query=query),
        timeout=None,
    )
    if not found:
        return "I don't remember anything about that."
    return "What I remember:\n" + "\n".join(f"- {item}" for item in found)


async def _memory_clear(invocation: Invocation, deps: CommandDependencies) -> str:
    if deps.memory is None:
        return "Memory is turned off."
    if not invocation.options.get("confirm"):
        return (
            "This forgets everything I remember about you, for good. "
            "Run /memory clear confirm:True to go ahead."
        )
    await deps.memory.ask(
        Forget(user_id=memory_user_id(invocation.platform, invocation.author.id)), timeout=None
    )
    return "Done: I've forgotten everything I remembered about you."
