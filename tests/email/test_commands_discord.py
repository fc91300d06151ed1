"""``/email`` through Discord: discord.py against the offline fake Discord, the bridge and the
command router as Clara runs them, ``EmailAdmin`` against a real dovecot. ``/email`` is
registered with its options, ``/email connect`` reaches ``EmailAdmin`` and is answered only
to the person, and the password in the interaction never reaches a log line, even at DEBUG
(discord.py logs every gateway event there).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio_asyncio

from clara.actors.discord import COMMANDS, CommandDependencies, Invocation, run_command
from clara.actors.discord.subsystem import slash_commands
from clara.actors.email import EmailAdmin
from clara.adapters.chat import Author, MessageReceived
from clara.adapters.discord import DiscordBridge
from clara.config import load_settings
from clara.store import Database, SecretBox
from clara.testing import FakeDiscord
from tests.email.dovecot import Dovecot
from tests.email.test_commands import ANN, PASSWORD, accounts, audit_rows, make_admin

TOKEN = "MTAxMDEwMTAxMDEw.GabcDE.fake-token-for-tests-0123456789"


@asynccontextmanager
async def discord_with(admin: EmailAdmin | None, database: Database) -> AsyncIterator[FakeDiscord]:
    """The fake Discord, and Clara's bridge connected to it with the slash commands."""
    fake = FakeDiscord()
    deps = CommandDependencies(
        discord=load_settings({}).discord, database=database, memory=None, email=admin
    )

    async def route(message: MessageReceived) -> None:
        return None

    async with trio_asyncio.open_loop(), trio.open_nursery() as nursery:
        url = await nursery.start(fake.serve)
        bridge = DiscordBridge(
            TOKEN,
            api_url=f"{url}/api/v10",
            gateway_url=url.replace("http", "ws") + "/gateway",
            guild_ready_timeout=0.05,
        )
        with trio.fail_after(20):
            await nursery.start(bridge.run, route, slash_commands(deps))
            await fake.connected.wait()
            await fake.add_guild("5", ("100",))  # where /email is run (the fake's default)
            while not fake.commands:  # registered once discord.py says ready
                await trio.sleep(0.01)
        yield fake
        nursery.cancel_scope.cancel()


def subcommand(fake: FakeDiscord, group: str, name: str) -> dict[str, Any]:
    [command] = [c for c in fake.commands if c["name"] == group]
    [found] = [o for o in command["options"] if o["name"] == name]
    assert isinstance(found, dict)
    return found


@pytest.mark.trio
async def test_email_connect_is_registered_and_reaches_email_admin_with_the_password_unlogged(
    dovecot: Dovecot, database: Database, box: SecretBox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dovecot.add_user(ANN, PASSWORD)
    admin = make_admin(database, box)
    async with discord_with(admin, database) as fake:
        email = next(c for c in fake.commands if c["name"] == "email")
        assert [o["name"] for o in email["options"]] == [
            "connect",
            "status",
            "rules",
            "presets",
            "quiet",
            "channel",
            "disconnect",
        ]
        connect = subcommand(fake, "email", "connect")
        options = {o["name"]: o for o in connect["options"]}
        assert list(options) == ["host", "port", "tls", "user", "password", "address", "provider"]
        assert (options["port"]["min_value"], options["port"]["max_value"]) == (1, 65535)
        assert options["tls"]["type"] == 5 and not any(o.get("required") for o in options.values())
        kinds = [c["value"] for c in subcommand(fake, "email", "rules")["options"][2]["choices"]]
        assert kinds[:2] == ["sender_contains", "sender_domain"]

        with trio.fail_after(30):
            answer = await fake.slash(
                "email",
                "connect",
                {
                    "host": "127.0.0.1",
                    "port": dovecot.port,
                    "tls": False,
                    "user": ANN,
                    "password": PASSWORD,
                },
                user_id="42",
            )
            status = await fake.slash("email", "status", user_id="42")

    assert answer.startswith(f"Connected {ANN} (127.0.0.1:{dovecot.port}, without TLS)")
    assert status.startswith(f"{ANN} (127.0.0.1:{dovecot.port}, no TLS)")
    assert all(flags & 64 for _, _, flags in fake.interaction_answers)  # only to them
    [account] = accounts(database)
    assert account.owner_platform_user_id == "42"
    [entry] = audit_rows(database)
    assert (entry.actor, entry.action, entry.outcome) == ("discord:42", "email.connect", "done")
    gateway = [r for r in caplog.records if r.name == "discord.gateway"]
    assert any("INTERACTION_CREATE" in r.getMessage() for r in gateway)  # logged, but masked
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)


@pytest.mark.trio
async def test_without_email_the_commands_say_it_is_off_and_help_lists_them(
    database: Database,
) -> None:
    deps = CommandDependencies(discord=load_settings({}).discord, database=database, memory=None)
    invocation = Invocation(
        platform="discord",
        channel_id="c1",
        guild_id="g1",
        author=Author(id="42", name="Ann"),
        group="email",
        name="status",
        options={},
    )
    assert await run_command(invocation, deps) == (
        "Email accounts are turned off here (CLARA_EMAIL_ENABLED)."
    )
    assert {name for group, name in COMMANDS if group == "email"} == {
        "connect",
        "status",
        "rules",
        "presets",
        "quiet",
        "channel",
        "disconnect",
    }
    helped = await run_command(
        Invocation(
            platform="discord",
            channel_id="c1",
            guild_id="g1",
            author=Author(id="42", name="Ann"),
            group="clara",
            name="help",
            options={},
        ),
        deps,
    )
    assert "/email connect | status | rules" in helped
    assert len(helped) <= 2000  # Discord's limit: the whole help still fits
