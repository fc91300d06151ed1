"""Clara's slash commands as discord.py application commands.

``/email connect`` takes a password. Discord shows slash command options to no one else and
the answer is ephemeral, but discord.py logs every gateway event at DEBUG, the interaction
with its options included: ``hide_secret_options`` masks the value of any option named in
``SECRET_OPTIONS`` in discord.py's records before a handler sees them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord
import trio_asyncio
from discord import app_commands

from ..chat import Author

__all__ = ["SECRET_OPTIONS", "CommandHandler", "hide_secret_options", "install_commands"]

logger = logging.getLogger(__name__)

#: Options whose values are secrets: never in a log line.
SECRET_OPTIONS = frozenset({"password", "feed"})
#: discord.py's loggers that log gateway payloads (interactions and their options).
_PAYLOAD_LOGGERS = ("discord.gateway", "discord.client", "discord.state")


def _masked(value: Any) -> Any:
    """``value`` with the value of every secret option (``{"name": "password", "value":
    ...}``) replaced by ``****``; the same object when there is none."""
    if isinstance(value, dict):
        if value.get("name") in SECRET_OPTIONS and "value" in value:
            return {**value, "value": "****"}
        changed = {key: _masked(item) for key, item in value.items()}
        return value if all(changed[key] is value[key] for key in value) else changed
    if isinstance(value, list):
        items = [_masked(item) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


class _SecretOptionFilter(logging.Filter):
    """Masks secret options' values in the arguments of discord.py's log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_masked(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = _masked(record.args)
        return True


def hide_secret_options() -> None:
    """Install the mask on discord.py's payload loggers (once; calling again is harmless)."""
    for name in _PAYLOAD_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(item, _SecretOptionFilter) for item in target.filters):
            target.addFilter(_SecretOptionFilter())


#: (group, name, options, channel id, guild id, author) -> the text to answer with.
CommandHandler = Callable[[str, str, dict[str, Any], str, str | None, Author], Awaitable[str]]


def _author(interaction: discord.Interaction) -> Author:
    user = interaction.user
    permissions = interaction.permissions
    is_dm = interaction.guild_id is None
    roles = tuple(str(role.id) for role in getattr(user, "roles", ()) if not role.is_default())
    return Author(
        id=str(user.id),
        name=user.display_name,
        roles=roles,
        is_admin=is_dm or permissions.administrator or permissions.manage_guild,
    )


def install_commands(tree: app_commands.CommandTree[Any], handler: CommandHandler) -> None:
    """Add /clara, /channel, /model, /memory, /mcp, /email, /mailroom, /sandbox and /ors to
    ``tree``; answers are ephemeral."""
    hide_secret_options()

    async def answer(
        interaction: discord.Interaction, group: str, name: str, options: dict[str, Any]
    ) -> None:
        # Installs and connection tests take longer than Discord's 3 s to answer.
        slow = group in ("mcp", "email", "mailroom", "sandbox", "ors")
        if slow:
            await interaction.response.defer(ephemeral=True, thinking=True)
        text = await trio_asyncio.trio_as_aio(handler)(
            group,
            name,
            options,
            str(interaction.channel_id),
            None if interaction.guild_id is None else str(interaction.guild_id),
            _author(interaction),
        )
        if slow:
            await interaction.followup.send(text[:2000], ephemeral=True)
        else:
            await interaction.response.send_message(text[:2000], ephemeral=True)

    clara_group = app_commands.Group(name="clara", description="About Clara")

    @clara_group.command(name="help", description="What Clara can do, and her commands")
    async def clara_help(interaction: discord.Interaction) -> None:
        await answer(interaction, "clara", "help", {})

    @clara_group.command(name="info", description="Clara's version and this channel's settings")
    async def clara_info(interaction: discord.Interaction) -> None:
        await answer(interaction, "clara", "info", {})

    @clara_group.command(name="channel", description="This channel: mode, tier, queue, who")
    async def clara_channel(interaction: discord.Interaction) -> None:
        await answer(interaction, "clara", "channel", {})

    channel_group = app_commands.Group(name="channel", description="Clara in this channel")

    @channel_group.command(name="mode", description="Admin: how Clara answers here")
    @app_commands.describe(mode="mention: when mentioned; active: every message; off")
    @app_commands.choices(
        mode=[app_commands.Choice(name=m, value=m) for m in ("mention", "active", "off")]
    )
    async def channel_mode(interaction: discord.Interaction, mode: str) -> None:
        await answer(interaction, "channel", "mode", {"mode": mode})

    model_group = app_commands.Group(name="model", description="Clara's models")

    @model_group.command(name="tier", description="Admin: the default model tier here")
    @app_commands.choices(
        tier=[app_commands.Choice(name=t, value=t) for t in ("high", "mid", "low")]
    )
    async def model_tier(interaction: discord.Interaction, tier: str) -> None:
        await answer(interaction, "model", "tier", {"tier": tier})

    @model_group.command(name="auto", description="Admin: a quick call chooses each tier here")
    @app_commands.describe(mode="on, off, or default (Clara's own setting)")
    @app_commands.choices(
        mode=[app_commands.Choice(name=m, value=m) for m in ("on", "off", "default")]
    )
    async def model_auto(interaction: discord.Interaction, mode: str) -> None:
        await answer(interaction, "model", "auto", {"mode": mode})

    @model_group.command(name="status", description="The model providers and the tier here")
    async def model_status(interaction: discord.Interaction) -> None:
        await answer(interaction, "model", "status", {})

    memory_group = app_commands.Group(name="memory", description="What Clara remembers of you")

    @memory_group.command(name="search", description="Search what Clara remembers about you")
    async def memory_search(interaction: discord.Interaction, query: str) -> None:
        await answer(interaction, "memory", "search", {"query": query})

    @memory_group.command(name="clear", description="Forget everything about you (confirm)")
    async def memory_clear(interaction: discord.Interaction, confirm: bool = False) -> None:
        await answer(interaction, "memory", "clear", {"confirm": confirm})

    @memory_group.command(name="status", description="Whether memory is on, and how it is doing")
    async def memory_status(interaction: discord.Interaction) -> None:
        await answer(interaction, "memory", "status", {})

    mcp_group = app_commands.Group(name="mcp", description="Clara's tools from MCP servers")

    @mcp_group.command(name="list", description="The MCP servers Clara has")
    async def mcp_list(interaction: discord.Interaction) -> None:
        await answer(interaction, "mcp", "list", {})

    @mcp_group.command(name="status", description="How MCP servers are doing")
    async def mcp_status(interaction: discord.Interaction, name: str = "") -> None:
        await answer(interaction, "mcp", "status", {"name": name})

    @mcp_group.command(name="tools", description="The tools of one MCP server")
    async def mcp_tools(interaction: discord.Interaction, name: str) -> None:
        await answer(interaction, "mcp", "tools", {"name": name})

    @mcp_group.command(name="install", description="Admin: install an MCP server")
    @app_commands.describe(
        source="npm:PACKAGE[@VERSION], github:OWNER/REPO[#REF], image:REF, path:/DIR or https URL",
        name="the server's name (default: from the source)",
        managers="only these people and roles may manage it (besides being admins)",
        env="secret variables it needs, NAME=VALUE separated by spaces (stored encrypted)",
    )
    async def mcp_install(
        interaction: discord.Interaction,
        source: str,
        name: str = "",
        managers: str = "",
        env: str = "",
    ) -> None:
        options = {"source": source, "name": name, "managers": managers, "env": env}
        await answer(interaction, "mcp", "install", options)

    def simple(operation: str, text: str) -> None:
        @mcp_group.command(name=operation, description=text)
        async def command(interaction: discord.Interaction, name: str) -> None:
            await answer(interaction, "mcp", operation, {"name": name})

    simple("uninstall", "Admin: remove an MCP server, its tokens and files")
    simple("enable", "Admin: offer an MCP server's tools again")
    simple("disable", "Admin: stop an MCP server and stop offering its tools")
    simple("restart", "Admin: restart an MCP server")

    groups = (clara_group, channel_group, model_group, memory_group, mcp_group)
    families = (_email_group, _mailroom_group, _sandbox_group, _ors_group)
    for group in (*groups, *(family(answer) for family in families)):
        tree.add_command(group)


_Answer = Callable[[discord.Interaction, str, str, dict[str, Any]], Awaitable[None]]

#: The choices of /email's fixed options (the rules' own names: clara.actors.email.rules).
_RULE_ACTIONS = ("list", "add", "remove", "move", "enable", "disable")
_RULE_KINDS = (
    "sender_contains",
    "sender_domain",
    "subject_contains",
    "subject_regex",
    "body_contains",
    "has_attachments",
)
_IMPORTANCES = ("urgent", "high", "normal", "low")
_PRESETS = ("job_hunting", "urgent", "security", "financial", "shipping")


def _choices(values: tuple[str, ...]) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=value, value=value) for value in values]


def _email_group(answer: _Answer) -> app_commands.Group:
    """/email: a person's own mail accounts (``EmailAdmin`` does the work)."""
    group = app_commands.Group(name="email", description="Your mail accounts and their alerts")
    account_help = "the account's address (not needed when you have one)"

    @group.command(name="connect", description="Connect a mail account (tested before it is saved)")
    @app_commands.describe(
        host="the IMAP server, e.g. imap.fastmail.com",
        port="the IMAP port (993: IMAP over TLS)",
        tls="connect over TLS (leave on)",
        user="the name you log in with (often your address)",
        password="your password or app password: stored encrypted, never shown",
        address="the account's address, if the login name is not it",
        provider="sign in on a provider's page instead of a password (e.g. google)",
    )
    async def email_connect(  # noqa: PLR0917 - one argument per slash command option
        interaction: discord.Interaction,
        host: str = "",
        port: app_commands.Range[int, 1, 65535] = 993,
        tls: bool = True,
        user: str = "",
        password: str = "",
        address: str = "",
        provider: str = "",
    ) -> None:
        options = {
            "host": host,
            "port": port,
            "tls": tls,
            "user": user,
            "password": password,
            "address": address,
            "provider": provider,
        }
        await answer(interaction, "email", "connect", options)

    @group.command(name="status", description="Your mail accounts and how each is doing")
    @app_commands.describe(account=account_help)
    async def email_status(interaction: discord.Interaction, account: str = "") -> None:
        await answer(interaction, "email", "status", {"account": account})

    @group.command(name="rules", description="List or change which mail is alerted")
    @app_commands.describe(
        action="list (default), add, remove, move, enable or disable",
        account=account_help,
        kind="add: what to look at",
        value="add: the text to look for (has_attachments: empty, or false for none)",
        importance="add: how pressing a match is",
        match="add: a match needs any (default) or all of the rule's conditions",
        name="add: the rule's name; an existing rule's adds the condition to it",
        rule="remove, move, enable, disable: the rule's number or name",
        position="move: the rule's new number",
    )
    @app_commands.choices(
        action=_choices(_RULE_ACTIONS),
        kind=_choices(_RULE_KINDS),
        importance=_choices(_IMPORTANCES),
        match=_choices(("any", "all")),
    )
    async def email_rules(  # noqa: PLR0917 - one argument per slash command option
        interaction: discord.Interaction,
        action: str = "list",
        account: str = "",
        kind: str = "",
        value: str = "",
        importance: str = "",
        match: str = "",
        name: str = "",
        rule: str = "",
        position: app_commands.Range[int, 1, 50] | None = None,
    ) -> None:
        options = {
            "action": action,
            "account": account,
            "kind": kind,
            "value": value,
            "importance": importance,
            "match": match,
            "name": name,
            "rule": rule,
            "position": position,
        }
        await answer(interaction, "email", "rules", options)

    @group.command(name="presets", description="Ready-made rules: list them, or apply one")
    @app_commands.describe(preset="the preset to add to the account's rules", account=account_help)
    @app_commands.choices(preset=_choices(_PRESETS))
    async def email_presets(
        interaction: discord.Interaction, preset: str = "", account: str = ""
    ) -> None:
        await answer(interaction, "email", "presets", {"preset": preset, "account": account})

    @group.command(name="quiet", description="Quiet hours in your time zone")
    @app_commands.describe(hours="HH:MM-HH:MM (e.g. 22:00-07:30), or off", account=account_help)
    async def email_quiet(
        interaction: discord.Interaction, hours: str = "", account: str = ""
    ) -> None:
        await answer(interaction, "email", "quiet", {"hours": hours, "account": account})

    @group.command(name="channel", description="Alerts here or in your DMs; ping or not")
    @app_commands.describe(
        to="here: this server channel (everyone in it sees them); dm: only you",
        ping="whether alerts ping you",
        account=account_help,
    )
    @app_commands.choices(to=_choices(("here", "dm")), ping=_choices(("on", "off")))
    async def email_channel(
        interaction: discord.Interaction, to: str = "", ping: str = "", account: str = ""
    ) -> None:
        await answer(interaction, "email", "channel", {"to": to, "ping": ping, "account": account})

    @group.command(name="disconnect", description="Stop watching an account and delete it")
    @app_commands.describe(account=account_help, confirm="True: yes, delete it")
    async def email_disconnect(
        interaction: discord.Interaction, account: str = "", confirm: bool = False
    ) -> None:
        await answer(interaction, "email", "disconnect", {"account": account, "confirm": confirm})

    return group


def _mailroom_group(answer: _Answer) -> app_commands.Group:
    """/mailroom: operators decide on the replies to Clara's own mail (``MailroomAdmin``)."""
    group = app_commands.Group(name="mailroom", description="Operators: replies to Clara's mail")

    @group.command(name="pending", description="Operator: mail waiting for a decision")
    async def mailroom_pending(interaction: discord.Interaction) -> None:
        await answer(interaction, "mailroom", "pending", {})

    @group.command(name="approve", description="Operator: send the drafted reply to one mail")
    @app_commands.describe(id="the mail's number, as its summary shows it")
    async def mailroom_approve(
        interaction: discord.Interaction, id: app_commands.Range[int, 1]
    ) -> None:
        await answer(interaction, "mailroom", "approve", {"id": id})

    @group.command(name="reject", description="Operator: send no reply to one mail")
    @app_commands.describe(id="the mail's number, as its summary shows it")
    async def mailroom_reject(
        interaction: discord.Interaction, id: app_commands.Range[int, 1]
    ) -> None:
        await answer(interaction, "mailroom", "reject", {"id": id})

    @group.command(name="edit", description="Operator: replace the draft reply of one mail")
    @app_commands.describe(
        id="the mail's number, as its summary shows it", text="the reply to send instead"
    )
    async def mailroom_edit(
        interaction: discord.Interaction,
        id: app_commands.Range[int, 1],
        text: app_commands.Range[str, 1, 3500],
    ) -> None:
        await answer(interaction, "mailroom", "edit", {"id": id, "text": text})

    return group


def _sandbox_group(answer: _Answer) -> app_commands.Group:
    """/sandbox: a person's own code sandbox; administrators choose for the server."""
    group = app_commands.Group(name="sandbox", description="Where Clara runs code for you")

    @group.command(name="status", description="Your sandbox: state, runs, storage used")
    async def sandbox_status(interaction: discord.Interaction) -> None:
        await answer(interaction, "sandbox", "status", {})

    @group.command(name="reset", description="Remove your sandbox and its files")
    @app_commands.describe(confirm="True: yes, remove it")
    async def sandbox_reset(interaction: discord.Interaction, confirm: bool = False) -> None:
        await answer(interaction, "sandbox", "reset", {"confirm": confirm})

    @group.command(name="mode", description="Admin: who may have Clara run code on this server")
    @app_commands.describe(mode="off, admins or everyone (empty: show the current choice)")
    @app_commands.choices(mode=_choices(("off", "admins", "everyone")))
    async def sandbox_mode(interaction: discord.Interaction, mode: str = "") -> None:
        await answer(interaction, "sandbox", "mode", {"mode": mode})

    @group.command(name="network", description="Admin: whether sandboxes here have a network")
    @app_commands.describe(network="on or off (empty: show the current choice)")
    @app_commands.choices(network=_choices(("on", "off")))
    async def sandbox_network(interaction: discord.Interaction, network: str = "") -> None:
        await answer(interaction, "sandbox", "network", {"network": network})

    return group


def _ors_group(answer: _Answer) -> app_commands.Group:
    """/ors: whether and how Clara reaches out to a person on her own; a server's opt-out."""
    group = app_commands.Group(name="ors", description="Clara reaching out to you on her own")
    scopes = _choices(("me", "server"))

    @group.command(name="status", description="Whether Clara may reach out, and when next")
    async def ors_status(interaction: discord.Interaction) -> None:
        await answer(interaction, "ors", "status", {})

    @group.command(name="enable", description="Let Clara reach out to you (admins: this server)")
    @app_commands.describe(scope="me (default) or server (administrators)")
    @app_commands.choices(scope=scopes)
    async def ors_enable(interaction: discord.Interaction, scope: str = "me") -> None:
        await answer(interaction, "ors", "enable", {"scope": scope})

    @group.command(name="disable", description="Stop Clara reaching out to you (or this server)")
    @app_commands.describe(scope="me (default) or server (administrators)")
    @app_commands.choices(scope=scopes)
    async def ors_disable(interaction: discord.Interaction, scope: str = "me") -> None:
        await answer(interaction, "ors", "disable", {"scope": scope})

    @group.command(name="quiet", description="Your quiet hours, in your own time zone")
    @app_commands.describe(hours="HH-HH, e.g. 22-08; default: the server's default")
    async def ors_quiet(interaction: discord.Interaction, hours: str) -> None:
        await answer(interaction, "ors", "quiet", {"hours": hours})

    @group.command(name="channel", description="Where Clara reaches you: here or in your DMs")
    @app_commands.choices(where=_choices(("here", "dm")))
    async def ors_channel(interaction: discord.Interaction, where: str) -> None:
        await answer(interaction, "ors", "channel", {"where": where})

    @group.command(name="calendar", description="An iCalendar feed for upcoming events (or off)")
    @app_commands.describe(feed="the calendar's secret iCalendar (ics) address, or off")
    async def ors_calendar(interaction: discord.Interaction, feed: str) -> None:
        await answer(interaction, "ors", "calendar", {"feed": feed})

    return group
