"""The sandbox subtree as run.py builds it, started for a test, over ``FakeSandboxBackend``.

Backend calls run in worker threads, as in production, so timed tests use ``mock_clock``
with ``autojump_threshold = 0.2`` (``virtual_time``): the clock jumps only after 0.2 s of
real idleness, never while a thread is still busy.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
from sqlalchemy import select

from clara.actors import ActorSystem
from clara.actors.sandbox import SandboxSystem, sandbox_subsystem
from clara.adapters.chat import Attachment, Author, MessageReceived
from clara.config import load_settings
from clara.store import Database
from clara.store.models import AuditLogEntry, SandboxRun
from clara.supervisors import Supervisor
from clara.testing import FakeSandboxBackend
from clara.tools import ToolRegistry, ToolResult

ADMIN = Author(id="1", name="ada", is_admin=True)
PERSON = Author(id="2", name="bob")
OTHER = Author(id="3", name="cy")
GUILD, CHANNEL = "500", "100"


def message(
    author: Author = PERSON,
    *,
    guild_id: str | None = GUILD,
    attachments: tuple[Attachment, ...] = (),
) -> MessageReceived:
    return MessageReceived(
        platform="discord",
        message_id="9000",
        channel_id=CHANNEL,
        guild_id=guild_id,
        is_dm=guild_id is None,
        author=author,
        content="run this",
        attachments=attachments,
    )


async def wait_until(condition: Callable[[], object], what: str, limit: float = 30.0) -> None:
    """Poll ``condition`` (a state, never a duration), or fail naming ``what`` after ``limit``
    real seconds (real: on a virtual clock each poll may cost 0.2 s of real idleness)."""
    give_up = time.monotonic() + limit
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out waiting for: {what}")
        await trio.sleep(0.01)


@dataclass
class Running:
    system: SandboxSystem
    backend: FakeSandboxBackend
    root: Supervisor
    database: Database | None

    async def call(
        self, tool: str, arguments: dict[str, Any], *, author: Author = PERSON, **where: Any
    ) -> ToolResult:
        """One tool call as the tool loop makes it (errors come back as text)."""
        provider = self.system.tools_for(message(author, **where))
        assert provider is not None, "no sandbox tools offered"
        registry = ToolRegistry()
        registry.register(provider)
        return await registry.call(f"sandbox__{tool}", arguments, timeout=600.0)

    def state(self, author: Author = PERSON) -> str | None:
        ref = self.system.sandboxes.get(f"discord:{author.id}")
        if ref is None:
            return None
        return str((ref.statistics().details or {}).get("state"))

    def runs(self) -> list[SandboxRun]:
        assert self.database is not None
        with self.database.unit_of_work() as session:
            return list(session.scalars(select(SandboxRun).order_by(SandboxRun.id)))

    def audit(self) -> list[tuple[str, str, str, str]]:
        assert self.database is not None
        with self.database.unit_of_work() as session:
            return [
                (e.actor, e.action, e.target, e.outcome)
                for e in session.scalars(select(AuditLogEntry).order_by(AuditLogEntry.id))
            ]


def settings_for(tmp_path: Path, env: dict[str, str] | None = None) -> Any:
    return load_settings(
        {
            "CLARA_DATA_DIR": str(tmp_path),
            "CLARA_STATUS_ENABLED": "false",
            "CLARA_SANDBOX_BACKEND": "bubblewrap",
            **(env or {}),
        }
    )


@asynccontextmanager
async def sandbox_running(
    tmp_path: Path,
    *,
    backend: FakeSandboxBackend | None = None,
    database: Database | None = None,
    env: dict[str, str] | None = None,
    no_backend: bool = False,
    **options: Any,
) -> AsyncIterator[Running]:
    fake = backend or FakeSandboxBackend()
    system = sandbox_subsystem(
        settings_for(tmp_path, env), None if no_backend else fake, database=database, **options
    )
    root = Supervisor([system.spec])
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run, ActorSystem("clara"))
        try:
            yield Running(system=system, backend=fake, root=root, database=database)
        finally:
            with trio.CancelScope(shield=True):
                await root.stop()


__all__ = [
    "ADMIN",
    "CHANNEL",
    "GUILD",
    "OTHER",
    "PERSON",
    "Running",
    "message",
    "sandbox_running",
    "settings_for",
    "wait_until",
]
