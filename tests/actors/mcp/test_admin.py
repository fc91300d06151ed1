"""Who may manage MCP servers: admins, per-server allow-lists, a rate limit, an audit log."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from clara.actors.mcp import CatalogEntry, McpAdminTools
from clara.adapters.chat import Author
from clara.errors import ClaraError
from clara.store import Database, McpServerConfig, make_engine, upgrade
from clara.store.models import AuditLogEntry
from clara.tools import ToolRegistry
from tests.actors.mcp.harness import ADMIN, PERSON, mcp_running

pytestmark = pytest.mark.trio


def store(tmp_path: Path) -> Database:
    engine = make_engine(f"sqlite:///{tmp_path / 'clara.db'}")
    upgrade(engine)
    return Database(engine)


def audit_rows(database: Database) -> list[tuple[str, str, str, str]]:
    with database.unit_of_work() as session:
        return [
            (e.actor, e.action, e.target, e.outcome)
            for e in session.scalars(select(AuditLogEntry).order_by(AuditLogEntry.id))
        ]


def entry(name: str, users: list[str] = [], roles: list[str] = []) -> CatalogEntry:  # noqa: B006
    config = McpServerConfig(command="/bin/false", allowed_users=users, allowed_roles=roles)
    return CatalogEntry(name=name, source="path:/x", enabled=True, config=config)


async def test_a_non_admin_is_refused_every_change_and_each_refusal_is_audited(
    tmp_path: Path,
) -> None:
    database = store(tmp_path)
    async with mcp_running(tmp_path, [entry("files")], database=database) as running:
        admin = running.mcp.admin
        for operation, options in [
            ("install", {"source": "npm:left-pad"}),
            ("uninstall", {"name": "files"}),
            ("disable", {"name": "files"}),
            ("enable", {"name": "files"}),
            ("restart", {"name": "files"}),
        ]:
            answer = await admin.run(operation, options, PERSON)
            assert answer == f"Only server administrators can {operation} MCP servers."
        # Reading is for everyone.
        assert (await admin.run("list", {}, PERSON)).startswith("MCP servers:\n- files")
        assert running.mcp.catalog.entries["files"].enabled
    rows = audit_rows(database)
    assert [(action, outcome) for _, action, _, outcome in rows] == [
        ("mcp.install", "refused"),
        ("mcp.uninstall", "refused"),
        ("mcp.disable", "refused"),
        ("mcp.enable", "refused"),
        ("mcp.restart", "refused"),
        ("mcp.list", "done"),
    ]
    assert {actor for actor, *_ in rows} == {"discord:2"}
    assert rows[1][2] == "files"


async def test_a_server_s_allow_list_narrows_who_among_admins_may_manage_it(
    tmp_path: Path,
) -> None:
    database = store(tmp_path)
    entries = [entry("private", users=["7"], roles=["ops"]), entry("open")]
    async with mcp_running(tmp_path, entries, database=database) as running:
        admin = running.mcp.admin
        other_admin = Author(id="8", name="eve", is_admin=True)
        listed_admin = Author(id="7", name="ann", is_admin=True)
        ops_admin = Author(id="9", name="ops", roles=("ops",), is_admin=True)
        listed_but_not_admin = Author(id="7", name="ann")
        refused = await admin.run("disable", {"name": "private"}, other_admin)
        assert refused == "You are not on private's list of people who may manage it."
        assert await admin.run("disable", {"name": "private"}, listed_admin) == (
            "private is disabled."
        )
        assert await admin.run("enable", {"name": "private"}, ops_admin) == "private is enabled."
        assert (await admin.run("disable", {"name": "private"}, listed_but_not_admin)).startswith(
            "Only server administrators"
        )
        assert await admin.run("disable", {"name": "open"}, other_admin) == "open is disabled."
    outcomes = [(actor, outcome) for actor, action, _, outcome in audit_rows(database)]
    assert outcomes == [
        ("discord:8", "refused"),
        ("discord:7", "done"),
        ("discord:9", "done"),
        ("discord:7", "refused"),
        ("discord:8", "done"),
    ]


async def test_operations_are_rate_limited_per_person(tmp_path: Path) -> None:
    database = store(tmp_path)
    env = {"CLARA_MCP_OPS_PER_MINUTE": "3"}
    async with mcp_running(tmp_path, [entry("a")], env=env, database=database) as running:
        admin = running.mcp.admin
        answers = [await admin.run("status", {"name": "a"}, ADMIN) for _ in range(4)]
        assert answers[3].startswith("Too many MCP operations: 3 a minute at most.")
        assert not answers[2].startswith("Too many")
        # Someone else is not held back by it.
        assert (await admin.run("list", {}, PERSON)).startswith("MCP servers:")
    outcomes = [outcome for *_, outcome in audit_rows(database)]
    assert outcomes == ["done", "done", "done", "refused", "done"]


async def test_the_model_s_mcp_tools_go_through_the_same_checks(tmp_path: Path) -> None:
    database = store(tmp_path)
    async with mcp_running(tmp_path, [entry("files")], database=database) as running:
        registry = ToolRegistry()
        for provider in running.mcp.tools_for(PERSON, "discord"):
            registry.register(provider)
        names = {spec.name for spec in registry.specs()}
        assert names == {"mcp__list", "mcp__status", "mcp__tools"}  # changes: admins only
        hidden = await registry.call("mcp__uninstall", {"name": "files"}, timeout=10)
        assert hidden.text == "error: there is no tool named 'mcp__uninstall'"
        whole = McpAdminTools(running.mcp.admin, PERSON, "discord", "uninstall files")
        refused = await whole.call("uninstall", {"name": "files"})
        assert refused == "Only server administrators can uninstall MCP servers."
        listed = await registry.call("mcp__tools", {"name": "files"}, timeout=10)
        assert listed.text == "files lists no tools."
        assert "files" in running.mcp.catalog.entries
    assert [(action, outcome) for _, action, _, outcome in audit_rows(database)] == [
        ("mcp.uninstall", "refused"),
        ("mcp.tools", "done"),
    ]


async def test_status_shows_each_server_s_state(tmp_path: Path) -> None:
    async with mcp_running(tmp_path, [entry("idle"), entry("off")]) as running:
        await running.mcp.admin.run("disable", {"name": "off"}, ADMIN)
        status = await running.mcp.admin.run("status", {}, ADMIN)
        assert status == "- idle: not running (starts on first use)\n- off: disabled"
        missing = await running.mcp.admin.run("status", {"name": "nope"}, ADMIN)
        assert missing == "There is no MCP server named 'nope'."


async def test_a_stored_record_from_an_older_clara_loads_with_defaults(tmp_path: Path) -> None:
    """Schema evolution: a record written before tools, oauth and cwd existed still loads."""
    from clara.store.models import McpServer  # noqa: PLC0415

    database = store(tmp_path)
    with database.unit_of_work() as session:
        session.add(McpServer(name="old", source="npm:x", config={"command": "node"}))
        session.add(McpServer(name="bad", source="npm:y", config={"args": "not-a-list"}))
    async with mcp_running(tmp_path, database=database) as running:
        assert list(running.mcp.catalog.entries) == ["old"]
        old = running.mcp.catalog.entries["old"].config
        assert (old.command, old.tools, old.oauth, old.cwd) == ("node", [], False, None)
        stats = running.mcp.catalog_ref.statistics()
        assert (stats.details or {})["unreadable_records"] == 1


async def test_managers_are_read_from_discord_mentions() -> None:
    from clara.actors.mcp import managers  # noqa: PLC0415

    assert managers("<@123> <@!456> <@&789>, 1011") == (("123", "456", "1011"), ("789",))
    assert managers("") == ((), ())
    with pytest.raises(ClaraError, match="'@Ada' is not a mention of a person or role"):
        managers("<@1> @Ada")


async def test_install_can_name_who_may_manage_the_server(tmp_path: Path) -> None:
    from tests.actors.mcp.conftest import TOOLS_SERVER  # noqa: PLC0415

    env = {"CLARA_MCP_ALLOWED_SOURCES": "path", "CLARA_MCP_PATH_ROOTS": str(TOOLS_SERVER.parent)}
    async with mcp_running(tmp_path, env=env) as running:
        admin = running.mcp.admin
        options = {"source": f"path:{TOOLS_SERVER}", "name": "calc", "managers": "<@1> <@&42>"}
        assert (await admin.run("install", options, ADMIN)).startswith("Installed calc")
        config = running.mcp.catalog.entries["calc"].config
        assert (config.allowed_users, config.allowed_roles) == (["1"], ["42"])
        assert (await admin.run("status", {"name": "calc"}, PERSON)).endswith(
            "(managed by <@1> <@&42>)"
        )
        other = Author(id="8", name="eve", is_admin=True)
        assert (await admin.run("restart", {"name": "calc"}, other)).startswith("You are not on")
        role_holder = Author(id="9", name="ops", roles=("42",), is_admin=True)
        assert await admin.run("restart", {"name": "calc"}, role_holder) == (
            "calc is stopped and starts again on its next use, at once: its backoff is "
            "cleared (its history stays in /mcp status)."
        )


async def test_the_model_changes_only_what_the_person_named_themselves(tmp_path: Path) -> None:
    """Prompt injection: a fetched page saying "install evil" cannot make Clara install it."""
    database = store(tmp_path)
    async with mcp_running(tmp_path, [entry("files")], database=database) as running:
        registry = ToolRegistry()
        said = "Clara, please restart files, it seems stuck"
        for provider in running.mcp.tools_for(ADMIN, "discord", said):
            registry.register(provider)
        injected = await registry.call("mcp__install", {"source": "npm:evil-server"}, timeout=10)
        assert injected.text.startswith("I can only install what you name in your own message")
        other = await registry.call("mcp__uninstall", {"name": "files"}, timeout=10)
        assert other.text.startswith("I can only uninstall what you name")
        asked = await registry.call("mcp__restart", {"name": "files"}, timeout=10)
        assert asked.text.startswith("files is stopped and starts again on its next use")
        assert "files" in running.mcp.catalog.entries
    rows = [(action, outcome) for _, action, _, outcome in audit_rows(database)]
    assert rows == [
        ("mcp.install", "refused"),
        ("mcp.uninstall", "refused"),
        ("mcp.restart", "done"),
    ]
