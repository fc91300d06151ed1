"""``/sandbox status|reset`` for people, ``mode|network`` for administrators: checks, audit,
rate limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clara.adapters.chat import Author
from clara.store import Database
from tests.actors.sandbox.harness import ADMIN, CHANNEL, GUILD, PERSON, Running, sandbox_running

pytestmark = pytest.mark.trio


async def run(
    running: Running,
    name: str,
    author: Author = PERSON,
    guild_id: str | None = GUILD,
    **options: Any,
) -> str:
    return await running.system.admin.run(
        name, options, author, platform="discord", channel_id=CHANNEL, guild_id=guild_id
    )


async def test_status_shows_the_person_s_own_sandbox(tmp_path: Path, store: Database) -> None:
    async with sandbox_running(tmp_path, database=store) as running:
        before = await run(running, "status")
        assert before.startswith("Your sandbox: none running")
        assert "Runs recorded: 0 (last: never)." in before
        await running.call("write_file", {"path": "a.txt", "content": "x" * 2048})
        await running.call("run_python", {"code": "print(1)"})
        after = await run(running, "status")
    assert after.splitlines()[0] == (
        "Your sandbox: ready, 1 runs since it started, 2.0 KiB of 256 MiB used in 1 files, "
        "network off (fake)."
    )
    assert "Runs recorded: 1 (last: " in after
    assert after.splitlines()[-1] == "On this server: open to everyone; network off."


async def test_reset_asks_for_confirmation_then_removes_the_sandbox(
    tmp_path: Path, store: Database
) -> None:
    async with sandbox_running(tmp_path, database=store) as running:
        await running.call("run_python", {"code": "print(1)"})
        asked = await run(running, "reset")
        assert "To go ahead: /sandbox reset confirm:True" in asked
        assert running.backend.count("remove") == 0
        done = await run(running, "reset", confirm=True)
        assert done.startswith("Your sandbox and its files were removed")
        assert running.backend.count("remove") == 1
        assert running.state() is None
        nothing = await run(running, "reset", confirm="yes")
        assert nothing == "You have no sandbox running: nothing to reset."
        again = await running.call("run_python", {"code": "print(2)"})
        assert not again.error and "restarted" not in again.text
        audit = running.audit()
    assert [(action, outcome) for _, action, _, outcome in audit] == [
        ("sandbox.reset", "asked"),
        ("sandbox.reset", "done"),
        ("sandbox.reset", "done"),
    ]
    assert {actor for actor, *_ in audit} == {"discord:2"}


async def test_mode_and_network_are_for_administrators_and_audited(
    tmp_path: Path, store: Database
) -> None:
    async with sandbox_running(tmp_path, database=store) as running:
        refused = await run(running, "mode", mode="off")
        assert refused == "Only server administrators can change /sandbox mode."
        refused_network = await run(running, "network", network="on")
        assert refused_network == "Only server administrators can change /sandbox network."
        in_dm = await run(running, "network", ADMIN, guild_id=None, network="on")
        assert "use it in a server, not in a DM" in in_dm
        assert await run(running, "mode", ADMIN, mode="admins") == (
            "Code tools on this server: administrators only."
        )
        bad = await run(running, "mode", ADMIN, mode="sometimes")
        assert bad.startswith("/sandbox mode failed: mode must be off, admins or everyone")
        on = await run(running, "network", ADMIN, network="on")
        assert on.startswith("Sandboxes on this server have a network; package installs stay off")
        assert running.system.tools_for(_message(PERSON)) is None  # admins only now
        audit = running.audit()
    assert audit == [
        ("discord:2", "sandbox.mode", "discord:500", "refused"),
        ("discord:2", "sandbox.network", "discord:500", "refused"),
        ("discord:1", "sandbox.network", "discord:1", "refused"),
        ("discord:1", "sandbox.mode", "discord:500", "done"),
        ("discord:1", "sandbox.mode", "discord:500", "failed"),
        ("discord:1", "sandbox.network", "discord:500", "done"),
    ]


async def test_a_server_s_choices_survive_a_restart_of_clara(
    tmp_path: Path, store: Database
) -> None:
    async with sandbox_running(tmp_path, database=store) as running:
        await run(running, "network", ADMIN, network=True)
        await run(running, "mode", ADMIN, mode="off")
    async with sandbox_running(tmp_path, database=store) as running:
        # Nothing is known yet, so the tools are offered; the call reads the store and refuses.
        refused = await running.call("run_python", {"code": "1"})
        assert refused.error and "turned off on this server" in refused.text
        assert running.system.tools_for(_message(PERSON)) is None  # known now
        shown = await run(running, "network", ADMIN)
        assert shown.startswith("Sandboxes on this server have a network")


async def test_commands_are_rate_limited_per_person(tmp_path: Path, store: Database) -> None:
    env = {"CLARA_SANDBOX_OPS_PER_MINUTE": "2"}
    async with sandbox_running(tmp_path, database=store, env=env) as running:
        await run(running, "status")
        await run(running, "status")
        limited = await run(running, "status")
        other = await run(running, "status", ADMIN)
        audit = running.audit()
    assert limited == "Too many /sandbox commands: 2 a minute at most. Try again in a moment."
    assert other.startswith("Your sandbox:")
    assert audit[2] == ("discord:2", "sandbox.status", "discord:2", "refused")


def _message(author: Author) -> Any:
    from tests.actors.sandbox.harness import message  # noqa: PLC0415

    return message(author)
