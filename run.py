"""Start Clara: load the settings, build the supervision tree, run it until a signal.

Wiring only: this is the one place that builds the object graph.

    python run.py                 # Discord with DISCORD_BOT_TOKEN, else a console chat
    python run.py --once "hi"     # answer one message on stdout and exit (for scripts)
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import trio

import clara
from clara.actors import ActorSystem, DeadLetters, Overflow
from clara.actors.channel import ChannelActor, ChannelDependencies, Converse
from clara.actors.console import ConsoleChat
from clara.actors.discord import (
    CommandDependencies,
    DiscordGateway,
    Invocation,
    router,
    run_command,
)
from clara.actors.llm import LlmGatewayActor
from clara.actors.mcp import McpSystem, build_mcp
from clara.actors.memory import MemoryActor, searcher
from clara.actors.status import StatusEndpoint
from clara.adapters.chat import Author, ChatTransport, MessageReceived
from clara.adapters.console import CONSOLE_CHANNEL, ConsoleTransport, console_message
from clara.adapters.discord import DiscordBridge
from clara.adapters.http import StatusContext
from clara.adapters.llm import Gateway, build_providers
from clara.adapters.memory import Mem0Memory, mem0_config, memory_user_id
from clara.config import ConfigError, Settings, StatusSettings, load_settings
from clara.errors import StoreError
from clara.health import Readiness
from clara.logs import configure_logging
from clara.store import Database, SecretBox, open_store
from clara.supervisors import (
    Backoff,
    ChildSpec,
    DynamicSupervisor,
    Restart,
    Supervisor,
    serve_until_signal,
)
from clara.tools import BuiltinTools, ToolRegistry


class PlainTransport:
    """``--once``: the reply's text alone on stdout, nothing else."""

    async def send(
        self,
        channel_id: str,
        text: str,
        *,
        reply_to: str | None,
        nonce: str,
        files: Sequence[tuple[str, bytes]] = (),
    ) -> str:
        if not text.startswith("-# "):  # progress lines are for chat windows
            print(text, flush=True)
        for name, data in files:
            print(f"[attached {name}, {len(data):,} bytes]", flush=True)
        return "once"

    async def typing(self, channel_id: str) -> None:
        return None


def build_tree(
    settings: Settings,
    system: ActorSystem,
    readiness: Readiness,
    started_at: float,
    *,
    database: Database | None = None,
    secrets: SecretBox | None = None,
    transport: ChatTransport | None = None,
    console: bool = False,
    on_console_end: Callable[[], None] | None = None,
    extra: Sequence[ChildSpec] = (),
    mcp: McpSystem | None = None,
) -> Supervisor:
    """Clara's supervision tree."""
    children: list[ChildSpec] = []
    root: Supervisor | None = None

    def the_root() -> Supervisor:
        assert root is not None
        return root

    if mcp is None and settings.mcp.enabled:
        mcp = build_mcp(settings, database=database, secrets=secrets)
    if settings.status.enabled:
        context = StatusContext(
            the_root,
            system,
            readiness,
            version=clara.__version__,
            started_at=started_at,
            oauth_callback=mcp.oauth_callback if mcp is not None else None,
        )
        children.append(
            ChildSpec(
                "status",
                lambda: StatusEndpoint(settings.status, context),
                mailbox_capacity=100,
            )
        )
    llm = settings.llm
    children.append(
        ChildSpec(
            "llm",
            lambda: LlmGatewayActor(
                lambda: Gateway(
                    build_providers(llm),
                    call_timeout=llm.timeout,
                    breaker_threshold=llm.breaker_threshold,
                    breaker_cooldown=llm.breaker_cooldown,
                )
            ),
            mailbox_capacity=1000,
        )
    )
    if settings.memory.enabled:
        memory = settings.memory
        children.append(
            ChildSpec(
                "memory",
                lambda: MemoryActor(
                    lambda: Mem0Memory(
                        mem0_config(settings), settings.runtime.data_dir.resolve() / "mem0"
                    ),
                    batch_seconds=memory.batch_seconds,
                    search_timeout=memory.search_timeout,
                ),
                mailbox_capacity=10_000,
                shutdown=30.0,  # pending writes are written before it stops
            )
        )
    if mcp is not None:
        children.append(mcp.spec)
    if transport is not None:
        memory_ref: list[Any] = []

        def tools_for(message: MessageReceived) -> ToolRegistry:
            registry = ToolRegistry()
            search = None
            if settings.memory.enabled:
                search = searcher(
                    the_root().ref("memory"), memory_user_id(message.platform, message.author.id)
                )
            registry.register(BuiltinTools(memory_search=search))
            if mcp is not None:
                for provider in mcp.tools_for(message.author, message.platform, message.content):
                    registry.register(provider)
            return registry

        def dependencies() -> ChannelDependencies:
            if not memory_ref:
                memory_ref.append(the_root().ref("memory") if settings.memory.enabled else None)
            return ChannelDependencies(
                transport=transport,
                llm=the_root().ref("llm"),
                discord=settings.discord,
                llm_settings=settings.llm,
                database=database,
                memory=memory_ref[0],
                tools_for=tools_for,
                # An MCP server's own limit applies first; its error is clearer than ours.
                tool_timeout=max(30.0, settings.mcp.call_timeout + 1.0),
            )

        shared: list[ChannelDependencies] = []

        def channel(key: str) -> ChannelActor:
            if not shared:
                shared.append(dependencies())
            platform = "console" if key == CONSOLE_CHANNEL else "discord"
            return ChannelActor(platform, key, shared[0])

        channels = DynamicSupervisor(
            channel,
            max_children=10_000,
            restart=Restart.TRANSIENT,
            mailbox_capacity=settings.discord.channel_mailbox + 50,
            overflow=Overflow.REJECT,
            passivate_after=3600.0,
            max_restarts=100,
            max_seconds=60.0,
        )
        children.append(ChildSpec("channels", channels))
        if console:
            channels_supervisor = channels

            async def console_channel() -> Any:
                return await channels_supervisor.get_or_start(CONSOLE_CHANNEL)

            children.append(
                ChildSpec(
                    "console",
                    lambda: ConsoleChat(console_channel, on_console_end or (lambda: None)),
                    restart=Restart.TEMPORARY,
                )
            )

    children.extend(extra)

    def llm_problem() -> str | None:
        assert root is not None
        details = root.ref("llm").statistics().details or {}
        providers = details.get("providers", [])
        if not providers or any(provider["up"] for provider in providers):
            return None
        return "no model provider answers: " + "; ".join(
            p["breaker"]["last_error"] or f"{p['name']}: {p['breaker']['state']}" for p in providers
        )

    readiness.register("llm", llm_problem)
    root = Supervisor(
        children,
        max_restarts=settings.runtime.root_max_restarts,
        max_seconds=settings.runtime.root_max_seconds,
    )
    return root


def build_discord_tree(
    settings: Settings,
    system: ActorSystem,
    readiness: Readiness,
    started_at: float,
    *,
    database: Database | None,
    secrets: SecretBox | None = None,
    guild_ready_timeout: float = 2.0,
) -> Supervisor:
    """Clara's tree with Discord as the chat platform."""
    assert settings.discord.token is not None
    holder: list[Supervisor] = []
    mcp = build_mcp(settings, database=database, secrets=secrets) if settings.mcp.enabled else None
    refused: list[int] = [0]

    async def channel_ref(channel_id: str) -> Any:
        channels = holder[0].child("channels")
        assert isinstance(channels, DynamicSupervisor)
        return await channels.get_or_start(channel_id)

    async def command(  # noqa: PLR0917 - the shape CommandHandler is called with
        group: str,
        name: str,
        options: dict[str, Any],
        channel_id: str,
        guild_id: str | None,
        author: Author,
    ) -> str:
        root = holder[0]
        dependencies = CommandDependencies(
            discord=settings.discord,
            database=database,
            memory=root.ref("memory") if settings.memory.enabled else None,
            channel=channel_ref,
            started_at=started_at,
            mcp=mcp.admin if mcp is not None else None,
        )
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

    bridge = DiscordBridge(
        settings.discord.token.reveal(),
        router(channel_ref, lambda: refused.__setitem__(0, refused[0] + 1)),
        api_url=settings.discord.api_url,
        gateway_url=settings.discord.gateway_url,
        guild_ready_timeout=guild_ready_timeout,
        commands=command,
        command_guilds=settings.discord.command_guilds,
    )
    root = build_tree(
        settings,
        system,
        readiness,
        started_at,
        database=database,
        secrets=secrets,
        transport=bridge,
        mcp=mcp,
        extra=[
            ChildSpec(
                "discord",
                lambda: DiscordGateway(bridge, channel_ref),
                backoff=Backoff(min=1.0, max=60.0),
            )
        ],
    )
    holder.append(root)
    readiness.register(
        "discord", lambda: None if bridge.ready else "not connected to the Discord gateway"
    )
    return root


async def _answer_once(root: Supervisor, system: ActorSystem, text: str) -> int:
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run, system)
        channels = root.child("channels")
        assert isinstance(channels, DynamicSupervisor)
        channel = await channels.get_or_start(CONSOLE_CHANNEL)
        reply = await channel.ask(Converse(message=console_message(text)), timeout=None)
        await root.stop()
    return 0 if reply else 1


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python run.py", description="Run Clara.")
    parser.add_argument(
        "--once", metavar="MESSAGE", help="answer one message on stdout and exit (for scripts)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    started_at = time.time()
    arguments = _arguments(argv)
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"clara: configuration error: {error}", file=sys.stderr)
        return 2
    once = arguments.once is not None
    configure_logging(
        "WARNING" if once else settings.logging.level, settings.logging.format, settings.secrets
    )
    try:
        store = open_store(settings)  # brings the schema up to date
    except StoreError as error:
        logging.getLogger("clara").error("cannot open the store: %s", error)
        return 1
    system = ActorSystem("clara", DeadLetters(settings.runtime.dead_letters))
    readiness = Readiness()
    try:
        if once:
            # No status endpoint for a one-shot: it would contend for the port of a running Clara.
            quiet = msgspec.structs.replace(settings, status=StatusSettings(enabled=False))
            root = build_tree(
                quiet,
                system,
                readiness,
                started_at,
                database=store.database,
                secrets=store.secrets,
                transport=PlainTransport(),
            )
            return trio.run(_answer_once, root, system, arguments.once)
        if settings.discord.enabled:
            root = build_discord_tree(
                settings,
                system,
                readiness,
                started_at,
                database=store.database,
                secrets=store.secrets,
            )
            return trio.run(serve_until_signal, root, system)
        stop = trio.Event()
        root = build_tree(
            settings,
            system,
            readiness,
            started_at,
            database=store.database,
            secrets=store.secrets,
            transport=ConsoleTransport(),
            console=True,
            on_console_end=stop.set,
        )
        return trio.run(functools.partial(serve_until_signal, root, system, stop=stop))
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
