"""The model is offered only the ``mcp__*`` tools the person it answers may use (issue 14,
item 7): reading for everyone, changes for administrators; a change called all the same is
still refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from clara.actors.channel import Converse
from clara.actors.channel.subsystem import tools_for
from clara.actors.mcp import OPERATIONS, CatalogEntry, McpAdminTools
from clara.actors.mcp.subsystem import OPEN_TO_EVERYONE
from clara.config import load_settings
from clara.store import McpServerConfig
from clara.testing import incoming
from clara.tools import ToolRegistry
from tests.actors.channel.test_actor import world
from tests.actors.mcp.harness import ADMIN, PERSON, mcp_running

CHANGES = {"mcp__install", "mcp__uninstall", "mcp__enable", "mcp__disable", "mcp__restart"}
READING = {"mcp__list", "mcp__status", "mcp__tools"}
ADMIN_ROLE = {"CLARA_DISCORD_ADMIN_ROLE": "ops"}


def idle(name: str) -> CatalogEntry:
    """A configured server that is never started here."""
    config = McpServerConfig(command="/bin/false")
    return CatalogEntry(name=name, source="path:/x", enabled=True, config=config)


def offered(body: dict[str, object]) -> set[str]:
    """The ``mcp__*`` tools a model request offers."""
    tools = body.get("tools") or []
    assert isinstance(tools, list)
    return {t["function"]["name"] for t in tools if t["function"]["name"].startswith("mcp__")}


@pytest.mark.trio
async def test_a_non_admin_s_model_request_offers_no_change_tools_and_an_admin_s_all(
    tmp_path: Path,
) -> None:
    async with (
        mcp_running(tmp_path / "mcp", [idle("files")], env=ADMIN_ROLE) as running,
        world(tmp_path) as w,
    ):
        w.deps.tools_for = tools_for(load_settings({}), None, running.mcp)
        channel = await w.channel()
        people = [
            incoming("what servers do you have?", author="bob", mention=True),
            incoming("install npm:x", author="ada", admin=True, mention=True),
            incoming("restart files", author="cy", roles=("ops",), mention=True),
        ]
        for message in people:
            with trio.fail_after(30):
                await channel.ask(Converse(message=message))
        bob, ada, cy = (offered(r.body) for r in w.server.chat_requests())
        assert bob == READING  # reading is everyone's; not one change is shown to the model
        assert ada == READING | CHANGES  # an administrator: all eight
        assert cy == READING | CHANGES  # the configured admin role counts as one


@pytest.mark.trio
async def test_a_change_the_model_names_for_a_non_admin_is_still_refused(tmp_path: Path) -> None:
    async with mcp_running(tmp_path, [idle("files")]) as running:
        registry = ToolRegistry()
        for provider in running.mcp.tools_for(PERSON, "discord", "uninstall files"):
            registry.register(provider)
        assert {s.name for s in registry.specs()} == READING  # "files" itself lists none
        hidden = await registry.call("mcp__uninstall", {"name": "files"}, timeout=10)
        assert hidden.error and "no tool named 'mcp__uninstall'" in hidden.text
        # Behind the offer, the operation's own check still refuses a non-admin.
        whole = McpAdminTools(running.mcp.admin, PERSON, "discord", "uninstall files")
        refused = await whole.call("uninstall", {"name": "files"})
        assert refused == "Only server administrators can uninstall MCP servers."
        # Reading still works for them.
        listed = await registry.call("mcp__list", {}, timeout=10)
        assert listed.text.startswith("MCP servers:\n- files")
        assert "files" in running.mcp.catalog.entries


@pytest.mark.trio
async def test_what_everyone_is_offered_is_exactly_what_everyone_may_run(tmp_path: Path) -> None:
    """``OPEN_TO_EVERYONE`` and ``McpAdmin``'s own rule cannot drift apart unnoticed."""
    async with mcp_running(tmp_path, [idle("files")]) as running:
        admin = running.mcp.admin
        for operation in OPERATIONS:
            answer = await admin.run(operation, {"name": "files"}, PERSON)
            refused = answer.startswith("Only server administrators")
            assert refused == (operation not in OPEN_TO_EVERYONE), (operation, answer)
        admin_tools = {s.name for s in McpAdminTools(admin, ADMIN, "discord").specs()}
        assert admin_tools == set(OPERATIONS) and admin_tools > OPEN_TO_EVERYONE
