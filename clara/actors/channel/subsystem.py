"""The ``channels`` child of the root: one ``ChannelActor`` per channel, started on first use.

Also the policy that goes with conversations: which tools a reply may use (per message: the
built-ins, the chat history the person may see, their own mail, and the MCP servers the person
may call), how long one tool call may take, and the one HTTP client every channel shares.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from ...adapters.chat import ChatTransport, MessageReceived
from ...adapters.memory import memory_user_id
from ...config import Settings
from ...store import Database
from ...supervisors import ChildSpec, DynamicSupervisor, Restart
from ...tools import (
    BuiltinTools,
    CanRead,
    ChatHistoryTools,
    MailToolbox,
    ToolProvider,
    ToolRegistry,
)
from .. import ActorRef, Overflow
from ..mcp import McpSystem
from ..memory import searcher
from .actor import ChannelActor, ChannelDependencies

__all__ = ["Channels", "channel_http_client", "channels_subsystem", "tools_for"]

#: Channels with an actor at once; the least recently idle makes room beyond it.
MAX_CHANNELS = 10_000
#: A channel idle this long is passivated (its history is in the store).
PASSIVATE_AFTER = 3600.0


@dataclass(frozen=True)
class Channels:
    """The channels subtree: its spec for the root, and the way in for a platform."""

    spec: ChildSpec
    supervisor: DynamicSupervisor

    async def ref(self, channel_id: str) -> ActorRef:
        """The actor of ``channel_id``, started (or restored) if it is not running."""
        return await self.supervisor.get_or_start(channel_id)


def channel_http_client() -> httpx.AsyncClient:
    """The one HTTP client (one connection pool) the channel actors share: attachments."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(30.0, connect=10.0),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        follow_redirects=True,
    )


def tools_for(
    settings: Settings,
    memory: ActorRef | None,
    mcp: McpSystem | None,
    *,
    database: Database | None = None,
    can_read: CanRead | None = None,
    mail: MailToolbox | None = None,
    sandbox: Callable[[MessageReceived], ToolProvider | None] | None = None,
) -> Callable[[MessageReceived], ToolRegistry]:
    """The tools one reply may use: the built-ins (with a search of what Clara remembers about
    the author), the search and reading of earlier conversations the author may see (with a
    store, and the platform's ``can_read``), and each enabled MCP server plus the ``mcp``
    management tools the author may use (reading for everyone, changes for administrators
    only, and only what the author's own message names), and the search and reading of the
    author's own mail when email is enabled and they have connected an account.

    Args:
        database: where conversations are recorded; None: no history tools.
        can_read: the platform's answer to "may this person read that channel"
            (``ChatTransport.can_read``); None: no history tools.
        mail: the mail tools' shared parts; None: no mail tools. Whether the author has an
            account is answered from its in-memory index (no store query per message).
        sandbox: the code tools for a reply (``SandboxSystem.tools_for``: given the message,
            so the files attached to it can be put in the author's sandbox); None: none.
    """

    def registry_for(message: MessageReceived) -> ToolRegistry:
        registry = ToolRegistry()
        search = None
        if memory is not None:
            search = searcher(memory, memory_user_id(message.platform, message.author.id))
        registry.register(BuiltinTools(memory_search=search))
        if database is not None and can_read is not None:
            registry.register(ChatHistoryTools(database, message, can_read))
        if mail is not None and settings.email.enabled:
            mail_tools = mail.tools_for(message.platform, message.author.id)
            if mail_tools is not None:
                registry.register(mail_tools)
        if mcp is not None:
            for provider in mcp.tools_for(message.author, message.platform, message.content):
                registry.register(provider)
        if sandbox is not None:
            code_tools = sandbox(message)
            if code_tools is not None:
                registry.register(code_tools)
        return registry

    return registry_for


def channels_subsystem(
    settings: Settings,
    transport: ChatTransport,
    *,
    platform: str,
    llm: ActorRef,
    memory: ActorRef | None,
    database: Database | None,
    mcp: McpSystem | None,
    http: httpx.AsyncClient,
    resume: bool = True,
    mail: MailToolbox | None = None,
    sandbox: Callable[[MessageReceived], ToolProvider | None] | None = None,
    activity: Callable[[MessageReceived], None] | None = None,
    continuity: Callable[[MessageReceived], Awaitable[str]] | None = None,
) -> Channels:
    """The channels DynamicSupervisor: a bounded, rejecting mailbox per channel
    (``CLARA_CHANNEL_MAILBOX``, plus room for the notices a full queue sends), passivation
    after an hour idle, a crashed channel restarted (a normal exit is final).

    Args:
        transport: where replies go (the Discord bridge, the console, stdout).
        platform: the platform every channel of this process is on (``discord``, ``console``).
        http: the shared client; its owner closes it once the channels have stopped.
        resume: whether channels answer what the inbox holds unfinished when they start.
        mail: the mail tools' shared parts (None: no mail tools).
        sandbox: the code tools for a reply (``SandboxSystem.tools_for``; None: none).
        activity: handed every message people write (``ProactiveSystem.offer``; None: none).
        continuity: a paragraph on the person for each reply (``ProactiveSystem.continuity``).
    """
    dependencies = ChannelDependencies(
        transport=transport,
        llm=llm,
        discord=settings.discord,
        llm_settings=settings.llm,
        database=database,
        memory=memory,
        tools_for=tools_for(
            settings,
            memory,
            mcp,
            database=database,
            can_read=transport.can_read,
            mail=mail,
            sandbox=sandbox,
        ),
        # An MCP server's own limit applies first, and a sandbox run's (plus making the
        # sandbox): their errors are clearer than ours.
        tool_timeout=max(30.0, settings.mcp.call_timeout + 1.0, settings.sandbox.timeout + 15.0),
        http=http,
        resume_window=settings.discord.resume_window,
        resume_note=settings.discord.resume_note,
        resume=resume,
        activity=activity,
        continuity=continuity,
    )
    supervisor = DynamicSupervisor(
        lambda channel_id: ChannelActor(platform, channel_id, dependencies),
        max_children=MAX_CHANNELS,
        restart=Restart.TRANSIENT,
        mailbox_capacity=settings.discord.channel_mailbox + 50,
        overflow=Overflow.REJECT,
        passivate_after=PASSIVATE_AFTER,
        max_restarts=100,
        max_seconds=60.0,
        # A deploy lets running replies finish (on_drain) within CLARA_DRAIN_TIMEOUT.
        shutdown=settings.discord.drain_timeout + 1.0,
    )
    return Channels(spec=ChildSpec("channels", supervisor), supervisor=supervisor)
