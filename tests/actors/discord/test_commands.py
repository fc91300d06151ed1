"""Slash commands: admin checks, the audit log, settings, memory."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing
from sqlalchemy import select

from clara.actors.discord import CommandDependencies, Invocation, run_command
from clara.actors.memory import MemoryActor
from clara.adapters.chat import Author
from clara.config import load_settings
from clara.store import Database, channel_config, guild_config, make_engine, upgrade
from clara.store.models import AuditLogEntry
from clara.testing import ActorTestKit, FakeMemory


def invocation(
    group: str,
    name: str,
    *,
    admin: bool = False,
    roles: tuple[str, ...] = (),
    guild: str | None = "g1",
    **options: object,
) -> Invocation:
    return Invocation(
        platform="discord",
        channel_id="c1",
        guild_id=guild,
        author=Author(id="42", name="Bob", roles=roles, is_admin=admin),
        group=group,
        name=name,
        options=dict(options),
    )


@pytest.fixture
def database(tmp_path: Path) -> Database:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    upgrade(engine)
    return Database(engine)


@pytest.mark.trio
async def test_admin_commands_are_refused_to_non_admins_and_audited(database: Database) -> None:
    deps = CommandDependencies(discord=load_settings({}).discord, database=database, memory=None)
    answer = await run_command(invocation("channel", "mode", mode="active"), deps)
    assert answer == "Only server administrators can change that."
    with database.unit_of_work() as session:
        assert channel_config(session, "discord", "c1").reply_mode == "mention"  # unchanged
        [entry] = session.scalars(select(AuditLogEntry)).all()
        assert (entry.actor, entry.action, entry.outcome) == (
            "discord:42",
            "channel.mode",
            "refused",
        )
        assert entry.target == "discord:g1:c1"


@pytest.mark.trio
async def test_admins_and_the_admin_role_may_change_settings(database: Database) -> None:
    settings = load_settings({"CLARA_DISCORD_ADMIN_ROLE": "777"})
    deps = CommandDependencies(discord=settings.discord, database=database, memory=None)
    assert await run_command(invocation("channel", "mode", admin=True, mode="active"), deps) == (
        "Reply mode here is now active."
    )
    assert await run_command(invocation("model", "tier", roles=("777",), tier="high"), deps) == (
        "The default tier on this server is now high."
    )
    bad = await run_command(invocation("channel", "mode", admin=True, mode="loud"), deps)
    assert bad == "The mode must be one of mention, active, off; got 'loud'."
    with database.unit_of_work() as session:
        assert channel_config(session, "discord", "c1").reply_mode == "active"
        assert guild_config(session, "discord", "g1").default_tier == "high"
        outcomes = [(e.action, e.outcome) for e in session.scalars(select(AuditLogEntry))]
        assert outcomes == [("channel.mode", "done"), ("model.tier", "done")]


@pytest.mark.trio
async def test_memory_search_and_clear_with_confirmation(
    database: Database, mock_clock: trio.testing.MockClock
) -> None:
    # Threads do the store's work: time may only jump once they are done (not at once).
    mock_clock.autojump_threshold = 0.2
    store = FakeMemory()
    store.memories["discord:42"] = ["Bob plays chess"]
    async with ActorTestKit() as kit:
        memory = await kit.spawn(lambda: MemoryActor(lambda: store))
        deps = CommandDependencies(
            discord=load_settings({}).discord, database=database, memory=memory
        )
        found = await run_command(invocation("memory", "search", query="chess"), deps)
        assert found == "What I remember:\n- Bob plays chess"
        asked = await run_command(invocation("memory", "clear"), deps)
        assert "Run /memory clear confirm:True" in asked
        assert store.memories  # nothing forgotten without confirmation
        done = await run_command(invocation("memory", "clear", confirm=True), deps)
        assert done.startswith("Done")
        assert store.memories == {}


@pytest.mark.trio
async def test_help_and_info_need_no_rights(database: Database) -> None:
    deps = CommandDependencies(discord=load_settings({}).discord, database=database, memory=None)
    assert "/channel mode" in await run_command(invocation("clara", "help"), deps)
    info = await run_command(invocation("clara", "info"), deps)
    assert "reply mode mention" in info and "memory off" in info
