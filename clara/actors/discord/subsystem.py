"""The ``discord`` child of the root: the gateway connection, its router and slash commands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...adapters.chat import Author
from ...adapters.discord import CommandHandler, DiscordBridge
from ...config import DiscordSettings
from ...health import Readiness
from ...store import Database
from ...supervisors import Backoff, ChildSpec
from .. import ActorRef
from ..channel.subsystem import Channels
from ..email import EmailAdmin
from ..mailroom import MailroomAdmin
from ..mcp import McpSystem
from ..proactive.admin import ProactiveAdmin
from ..sandbox import SandboxAdmin
from .commands import CommandDependencies, Invocation, run_command
from .gateway import DiscordGateway
from .intake import Intake, IntakeGate

__all__ = ["Discord", "discord_bridge", "discord_subsystem"]


@dataclass(frozen=True)
class Discord:
    """The two children Discord adds to the tree: ``connection`` (the gateway; declared
    before the channels, so it stops after them and replies can still be posted while Clara
    drains) and ``intake`` (declared after the channels: it resumes and catches up, then lets
    live messages in, and is the first to stop taking them)."""

    connection: ChildSpec
    intake: ChildSpec


def discord_bridge(settings: DiscordSettings, *, guild_ready_timeout: float = 2.0) -> DiscordBridge:
    """The discord.py bridge: the channels' transport, run by the ``discord`` child.

    Raises:
        ValueError: no token is set (``DISCORD_BOT_TOKEN``).
    """
    if settings.token is None:
        raise ValueError("DISCORD_BOT_TOKEN is not set: there is no Discord to connect to")
    return DiscordBridge(
        settings.token.reveal(),
        api_url=settings.api_url,
        gateway_url=settings.gateway_url,
        guild_ready_timeout=guild_ready_timeout,
        command_guilds=settings.command_guilds,
    )


def discord_subsystem(
    bridge: DiscordBridge,
    settings: DiscordSettings,
    readiness: Readiness,
    *,
    channels: Channels,
    database: Database | None,
    memory: ActorRef | None,
    llm: ActorRef | None,
    mcp: McpSystem | None,
    started_at: float,
    email: EmailAdmin | None = None,
    mailroom: MailroomAdmin | None = None,
    sandbox: SandboxAdmin | None = None,
    ors: ProactiveAdmin | None = None,
) -> Discord:
    """The gateway actor's spec and the intake's: messages go to their channel's actor,
    slash commands run with what they need; ``/readyz`` reports ``discord`` until the
    gateway is connected.

    A connection discord.py gives up on crashes the actor; it is restarted with a backoff of
    1 s doubling to a minute (Discord's own reconnect limits are far gentler than that).
    """
    dependencies = CommandDependencies(
        discord=settings,
        database=database,
        memory=memory,
        channel=channels.ref,
        started_at=started_at,
        mcp=mcp.admin if mcp is not None else None,
        llm=llm,
        email=email,
        mailroom=mailroom,
        sandbox=sandbox,
        ors=ors,
    )
    readiness.register(
        "discord", lambda: None if bridge.ready else "not connected to the Discord gateway"
    )
    gate = IntakeGate()
    connection = ChildSpec(
        "discord",
        lambda: DiscordGateway(bridge, channels.ref, slash_commands(dependencies), gate),
        backoff=Backoff(min=1.0, max=60.0),
    )
    intake = ChildSpec(
        "intake",
        lambda: Intake(
            gate,
            platform="discord",
            channel=channels.ref,
            history=bridge.history,
            database=database,
            settings=settings,
        ),
    )
    return Discord(connection=connection, intake=intake)


def slash_commands(dependencies: CommandDependencies) -> CommandHandler:
    """What the bridge calls for each slash command: the text to show (to the caller only)."""

    async def command(  # noqa: PLR0917 - the shape CommandHandler is called with
        group: str,
        name: str,
        options: dict[str, Any],
        channel_id: str,
        guild_id: str | None,
        author: Author,
    ) -> str:
        invocation = Invocation(
            platform="discord",
            channel_id=channel_id,
            guild_id=guild_id,
            author=author,
            group=group,
            name=name,
            options=options,
        )
        return await run_command(invocation, dependencies)

    return command
