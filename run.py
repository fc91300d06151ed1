"""Start Clara: load the settings, build the supervision tree, run it until a signal.

    python run.py                 # Discord with DISCORD_BOT_TOKEN, else a console chat
    python run.py --once "hi"     # answer one message on stdout and exit (for scripts)

Wiring only. The tree, as ``build_tree`` declares it (each subsystem's package builds its
own child spec; siblings are wired with refs that exist from the moment a child is declared):

    /clara      Supervisor, ONE_FOR_ONE, CLARA_ROOT_MAX_RESTARTS within CLARA_ROOT_MAX_SECONDS
      shared    closes the HTTP client the channels share (first, so it stops last)
      status    the status endpoint                      (CLARA_STATUS_ENABLED)
      llm       the LLM gateway
      memory    mem0 over Qdrant                         (CLARA_MEMORY_ENABLED)
      mcp       MCP servers: reaper, catalog, servers    (CLARA_MCP_ENABLED)
      discord   the gateway connection                   (with DISCORD_BOT_TOKEN)
      sandbox   one SandboxActor per person running code (CLARA_SANDBOX_BACKEND; with none
                its tools tell the model that running code is off)
      proactive one actor per person Clara may reach out to, their scheduler, the
                activity hub (CLARA_PROACTIVE_ENABLED, with the store)
      channels  one ChannelActor per channel
      email     one actor per mail account, and their starter   (CLARA_EMAIL_ENABLED)
      mail_tools  keeps the index of who has mail accounts (the model's mail tools)
      mailroom  Clara's own inbox: desk and inbox actors        (CLARA_MAILROOM_ENABLED)
      intake    resumes, catches up, then lets Discord's messages in; or ``console`` (a
                terminal chat); or nothing (--once)

Children stop in reverse order, so a SIGTERM first stops taking messages (intake), lets the
running replies finish (channels, within CLARA_DRAIN_TIMEOUT; the queue stays in the
inbox), and only then disconnects from Discord.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import httpx
import msgspec
import trio

from clara.actors import ActorSystem, DeadLetters
from clara.actors.channel.subsystem import Channels, channel_http_client, channels_subsystem
from clara.actors.console.subsystem import answer_once, console_subsystem
from clara.actors.discord.subsystem import discord_bridge, discord_subsystem
from clara.actors.email import (
    EmailAdmin,
    EmailOAuth,
    EmailSystem,
    EmailTokens,
    EmbedAlertSink,
    account_statistics,
    check_email_oauth,
    email_oauth,
    email_subsystem,
    mail_tools_child,
    shared_oauth_callback,
)
from clara.actors.llm.subsystem import llm_subsystem
from clara.actors.mailroom import EmbedMailroomSink, mailroom_subsystem
from clara.actors.mcp import mcp_subsystem
from clara.actors.memory.subsystem import memory_subsystem
from clara.actors.proactive import proactive_subsystem
from clara.actors.proactive.admin import ProactiveAdmin
from clara.actors.sandbox import choose_backend, sandbox_subsystem
from clara.actors.status.subsystem import status_subsystem
from clara.actors.store import store_subsystem
from clara.adapters.console import ConsoleTransport, PlainTransport
from clara.adapters.mcp import OAuthClient
from clara.adapters.sandbox import SandboxError
from clara.config import ConfigError, Settings, StatusSettings, load_settings
from clara.errors import StoreError
from clara.health import Readiness
from clara.logs import configure_logging
from clara.store import Database, SecretBox, open_store
from clara.supervisors import ChildSpec, Supervisor, closing_child, serve_until_signal
from clara.tools import MailToolbox

Chat = Literal["discord", "console", "once"]


@dataclass(frozen=True)
class Tree:
    root: Supervisor
    channels: Channels


def build_tree(
    settings: Settings,
    system: ActorSystem,
    readiness: Readiness,
    started_at: float,
    *,
    chat: Chat,
    database: Database | None = None,
    secrets: SecretBox | None = None,
    on_console_end: Callable[[], None] = lambda: None,
    guild_ready_timeout: float | None = None,
) -> Tree:
    """Clara's supervision tree, with ``chat`` as its chat platform."""
    bridge = None
    if chat == "discord":
        wait = settings.discord.guild_ready_timeout
        bridge = discord_bridge(
            settings.discord,
            guild_ready_timeout=wait if guild_ready_timeout is None else guild_ready_timeout,
        )
    transport = bridge or (ConsoleTransport() if chat == "console" else PlainTransport())
    http = channel_http_client()
    llm = llm_subsystem(settings.llm, readiness)
    memory = memory_subsystem(settings)
    memory_ref = memory.ref if memory is not None else None
    mcp = (
        mcp_subsystem(settings, database=database, secrets=secrets)
        if settings.mcp.enabled
        else None
    )
    # The proactive engine: one actor per person, a scheduler, the activity hub. It needs
    # the store (its schedule and promises live there).
    proactive = ors = None
    if settings.proactive.enabled and database is not None and chat != "once":
        proactive = proactive_subsystem(
            settings,
            database=database,
            llm=llm.ref,
            transport=transport,
            box=secrets,
            http=http,
        )
        ors = ProactiveAdmin(
            settings=settings.proactive,
            discord=settings.discord,
            database=database,
            box=secrets,
            clock=proactive.clock,
            forget_calendar=proactive.calendar.forget if proactive.calendar else None,
        )
    # Email, with chat: the accounts' watchers, the model's tools over people's own mail,
    # /email, OAuth sign-ins; and Clara's own inbox (the mailroom), when configured.
    email = mail = email_admin = email_signin = None
    if settings.email.enabled and database is not None and secrets is not None and chat != "once":
        tokens = EmailTokens(database, secrets, OAuthClient(http))
        mail = MailToolbox(database, secrets, tokens=tokens)
        email = email_subsystem(
            settings,
            database=database,
            secrets=secrets,
            sink=EmbedAlertSink(transport),
            tokens=tokens,
            important_mail=proactive.important_mail if proactive is not None else None,
        )
        readiness.register_details("email", email.readiness_details)
        email_admin, email_signin = _email_commands(
            settings, email, mail, database=database, secrets=secrets, http=http
        )
    # Code sandboxes (CLARA_SANDBOX_BACKEND). With none (or auto finding nothing) the model
    # still sees the code tools, which answer that running code is off here: it tells the
    # person rather than pretending to have run something.
    sandbox = sandbox_subsystem(
        settings,
        choose_backend(settings.sandbox, scope=settings.sandbox.scope),
        database=database,
        http=http,
    )
    readiness.register_details("sandbox", sandbox.readiness_details)
    channels = channels_subsystem(
        settings,
        transport,
        platform="discord" if bridge is not None else "console",
        llm=llm.ref,
        memory=memory_ref,
        database=database,
        mcp=mcp,
        http=http,
        resume=chat != "once",
        mail=mail,
        sandbox=sandbox.tools_for,
        activity=proactive.offer if proactive is not None else None,
        continuity=proactive.continuity if proactive is not None else None,
    )
    status = status_subsystem(
        settings.status,
        system,
        readiness,
        started_at=started_at,
        oauth_callback=shared_oauth_callback(
            email_signin.finish if email_signin is not None else None,
            mcp.oauth_callback if mcp is not None else None,
        ),
        secrets=settings.secrets,
        metrics=[proactive.metrics] if proactive is not None else [],
    )
    mailroom = None
    if settings.mailroom.enabled and database is not None and chat != "once":
        mailroom = mailroom_subsystem(
            settings,
            database=database,
            llm=llm.ref,
            sink=EmbedMailroomSink(transport, settings.mailroom.operator_channel),
        )
        readiness.register_details("mailroom", mailroom.readiness_details)
    connection = platform = None  # --once: the caller talks to the console channel itself
    if bridge is not None:
        discord = discord_subsystem(
            bridge,
            settings.discord,
            readiness,
            channels=channels,
            database=database,
            memory=memory_ref,
            llm=llm.ref,
            mcp=mcp,
            started_at=started_at,
            email=email_admin,
            mailroom=mailroom.admin if mailroom is not None else None,
            sandbox=sandbox.admin,
            ors=ors,
        )
        connection, platform = discord.connection, discord.intake
    elif chat == "console":
        platform = console_subsystem(channels, on_console_end)
    children = [
        closing_child("shared", http.aclose),
        store_subsystem(database, readiness) if database is not None else None,
        status,
        llm,
        memory,
        mcp.spec if mcp is not None else None,
        connection,
        sandbox.spec,  # stops after the channels that use it
        proactive.spec if proactive is not None else None,  # flushes what channels handed it
        channels.spec,
        email.spec if email is not None else None,
        mail_tools_child(mail) if mail is not None else None,
        mailroom.spec if mailroom is not None else None,
        platform,
    ]
    root = Supervisor(
        [child for child in children if isinstance(child, ChildSpec)],
        max_restarts=settings.runtime.root_max_restarts,
        max_seconds=settings.runtime.root_max_seconds,
    )
    return Tree(root, channels)


def _email_commands(
    settings: Settings,
    email: EmailSystem,
    mail: MailToolbox,
    *,
    database: Database,
    secrets: SecretBox,
    http: httpx.AsyncClient,
) -> tuple[EmailAdmin, EmailOAuth]:
    """``/email`` and the OAuth sign-ins behind ``/email connect provider:``."""

    async def restart(account_id: int) -> None:  # an account reads its settings at start
        await email.forget(account_id)
        await email.watch(account_id)

    async def connected(account_id: int) -> None:
        await restart(account_id)
        await mail.owners.refresh()  # the mail tools are offered at once

    signin = email_oauth(
        settings,
        database=database,
        secrets=secrets,
        oauth=OAuthClient(http),
        on_connected=connected,
    )
    admin = EmailAdmin(
        database,
        secrets,
        limiter=email.limiter,
        imap_timeout=settings.email.imap_timeout,
        on_connected=connected,
        on_changed=restart,
        on_disconnected=email.forget,
        statistics=account_statistics(email.accounts),
        oauth=signin,
        private_hosts=settings.email.private_hosts,
    )
    return admin, signin


def main(argv: Sequence[str] | None = None) -> int:
    started_at = time.time()
    parser = argparse.ArgumentParser(prog="python run.py", description="Run Clara.")
    parser.add_argument("--once", metavar="MESSAGE", help="answer one message on stdout and exit")
    once = parser.parse_args(argv).once
    try:
        settings = load_settings()
        if settings.email.enabled:
            check_email_oauth(settings)
    except ConfigError as error:
        print(f"clara: configuration error: {error}", file=sys.stderr)
        return 2
    level = "WARNING" if once is not None else settings.logging.level
    configure_logging(level, settings.logging.format, settings.secrets)
    # Every file Clara creates from here on (the database, Qdrant's, mem0's history, MCP
    # installs) is its user's alone: they hold what people said.
    os.umask(0o077)
    try:
        store = open_store(settings)  # brings the schema up to date
    except StoreError as error:
        logging.getLogger("clara").error("cannot open the store: %s", error)
        return 1
    system = ActorSystem("clara", DeadLetters(settings.runtime.dead_letters))
    build = functools.partial(
        build_tree, system=system, readiness=Readiness(), started_at=started_at,
        database=store.database, secrets=store.secrets,
    )  # fmt: skip
    try:
        if once is not None:
            # No status endpoint for a one-shot: it would contend for the port of a running Clara.
            quiet = msgspec.structs.replace(settings, status=StatusSettings(enabled=False))
            tree = build(quiet, chat="once")
            return trio.run(answer_once, tree.root, tree.channels, system, once)
        if settings.discord.enabled:
            return trio.run(serve_until_signal, build(settings, chat="discord").root, system)
        stop = trio.Event()
        tree = build(settings, chat="console", on_console_end=stop.set)
        return trio.run(functools.partial(serve_until_signal, tree.root, system, stop=stop))
    except SandboxError as error:  # the sandbox backend chosen cannot be made
        print(f"clara: configuration error: {error}", file=sys.stderr)
        return 2
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
