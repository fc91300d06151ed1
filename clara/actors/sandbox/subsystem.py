"""The ``sandbox`` subtree: one ``SandboxActor`` per person, the tools, ``/sandbox``.

``sandbox_subsystem`` returns the subtree's ``ChildSpec`` and what the rest of Clara uses of
it: ``tools_for(message)`` (the channel's tool list for a reply), ``admin`` (the
``/sandbox`` commands) and ``readiness_details()`` (the status endpoint). Without a backend
(``CLARA_SANDBOX_BACKEND=none``) the tools answer the model that running code is off.

Children, in start order: ``backend`` (at start, sweeps away the sandboxes an earlier life
of this process left behind: a ``kill -9`` runs no passivation; closes the backend's
connections, last, when the subtree stops) and ``sandboxes``, a DynamicSupervisor keyed by
``platform:user id``: ``CLARA_SANDBOX_MAX_RUNNING`` at most (beyond it the least recently
idle is removed to make room, or the model is told all are busy), each passivated, and so
removed, after ``CLARA_SANDBOX_IDLE_SECONDS`` idle.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx
import trio

from ...adapters.chat import Attachment, MessageReceived
from ...adapters.sandbox import SandboxBackend, SandboxError, SandboxLimits
from ...config import Settings
from ...store import Database
from ...supervisors import ChildSpec, DynamicSupervisor, ResourceOwner, Restart, Supervisor
from ...tools import ToolProvider
from .. import Actor, Overflow
from ..policy import is_admin
from .actor import SandboxActor, SandboxOptions
from .admin import SandboxAdmin
from .policies import SandboxPolicies, refusal
from .tools import Download, SandboxOff, SandboxTools, ToolSettings

__all__ = ["SandboxSystem", "http_download", "sandbox_subsystem"]

logger = logging.getLogger(__name__)

#: Requests one person may have waiting for their sandbox (more: "still busy").
MAILBOX = 4

#: Seconds the sweep at start may take before it is abandoned (an engine that hangs).
SWEEP_SECONDS = 60.0


class BackendOwner(ResourceOwner):
    """Sweeps the backend at start (before any sandbox of this life exists: it starts before
    ``sandboxes``), closes it at stop. A sweep that fails is logged, not fatal: an engine down
    at start may be up by the first run, and its leftovers are then replaced one by one as
    their owners come back (``create`` removes a sandbox of the same name first)."""

    def __init__(self, backend: SandboxBackend) -> None:
        async def close() -> None:
            await trio.to_thread.run_sync(backend.close, abandon_on_cancel=True)

        super().__init__(close)
        self.backend = backend

    async def on_start(self) -> None:
        with trio.move_on_after(SWEEP_SECONDS) as waited:
            try:
                removed = await trio.to_thread.run_sync(self.backend.sweep, abandon_on_cancel=True)
            except SandboxError as error:
                logger.warning("sandbox: could not sweep what an earlier run left: %s", error)
                return
            if removed:
                logger.info("sandbox: removed %d sandboxes an earlier run left behind", removed)
        if waited.cancelled_caught:
            logger.warning("sandbox: the sweep at start took over %gs", SWEEP_SECONDS)


@dataclass
class SandboxSystem:
    """What the rest of Clara uses of the sandbox subtree."""

    spec: ChildSpec
    """``sandbox``: add it to the root's children."""
    supervisor: Supervisor
    sandboxes: DynamicSupervisor
    """``sandboxes``: one ``SandboxActor`` per person (key ``platform:user id``)."""
    backend: SandboxBackend | None
    admin: SandboxAdmin
    policies: SandboxPolicies
    tool_settings: ToolSettings
    settings: Settings
    download: Download | None = None

    def tools_for(self, message: MessageReceived) -> ToolProvider | None:
        """The sandbox tools for the reply to ``message``, or None when its author may not
        use them here (as far as is known now: each call checks again)."""
        if self.backend is None:
            return SandboxOff()
        admin = is_admin(message.author, self.settings.discord)
        known = self.policies.known(message.platform, message.guild_id)
        if known is not None and refusal(known, message.author, is_admin=admin) is not None:
            return None
        return SandboxTools(
            message,
            self.sandboxes,
            self.policies,
            self.tool_settings,
            is_admin=admin,
            download=self.download,
        )

    def readiness_details(self) -> dict[str, Any]:
        """For the readiness *details*: the backend, and sandboxes running against the cap."""
        states: dict[str, int] = {}
        for key in list(self.sandboxes.keys()):
            details = self.sandboxes.statistics_of(key).details
            state = details.get("state", "?") if isinstance(details, dict) else "?"
            states[state] = states.get(state, 0) + 1
        return {
            "backend": self.backend.name if self.backend is not None else "none",
            "running": len(self.sandboxes),
            "max_running": self.sandboxes.max_children,
            "states": states,
        }


def http_download(client: httpx.AsyncClient) -> Download:
    """Attachments fetched with ``client`` (the channels' shared one), at most ``limit`` bytes."""

    async def download(attachment: Attachment, limit: int) -> bytes:
        if attachment.size > limit:
            raise ValueError(f"{attachment.size:,} bytes is more than the sandbox holds")
        data = bytearray()
        async with client.stream("GET", attachment.url, timeout=30) as response:
            response.raise_for_status()
            async for chunk in response.aiter_bytes():
                data.extend(chunk)
                if len(data) > limit:
                    raise ValueError(f"more than {limit:,} bytes")
        return bytes(data)

    return download


def sandbox_subsystem(
    settings: Settings,
    backend: SandboxBackend | None,
    *,
    database: Database | None,
    http: httpx.AsyncClient | None = None,
    hang_grace: float = 15.0,
    create_timeout: float = 120.0,
) -> SandboxSystem:
    """The subtree (nothing runs until its supervisor starts).

    Args:
        settings: ``settings.sandbox`` gives the limits, the cap and the idle time.
        backend: where sandboxes run (the adapters' choice for ``CLARA_SANDBOX_BACKEND``);
            None: no code runs, and the tools say so.
        database: where runs and servers' choices are kept; None: in memory, unaudited.
        http: fetches attachments that arrive as a URL (the channels' client).
        hang_grace: seconds a backend call may overrun its own limit before its sandbox
            counts as hung and is made again.
        create_timeout: seconds making one sandbox may take.
    """
    sandbox = settings.sandbox
    limits = SandboxLimits(
        memory_mb=sandbox.memory_mb, cpus=sandbox.cpus, pids=sandbox.pids, work_mb=sandbox.work_mb
    )
    # Room beyond the cap for abandoned threads of hung calls, which hold a token until they
    # return, and for the background removals of broken sandboxes.
    limiter = trio.CapacityLimiter(sandbox.max_running + 8)
    policies = SandboxPolicies(database)

    def start(owner: str) -> Actor:
        assert backend is not None
        return SandboxActor(
            owner,
            SandboxOptions(
                backend=backend,
                limits=limits,
                limiter=limiter,
                timeout=sandbox.timeout,
                output_limit=sandbox.output_kb * 1024,
                hang_grace=hang_grace,
                create_timeout=create_timeout,
                database=database,
            ),
        )

    sandboxes = DynamicSupervisor(
        start,
        max_children=sandbox.max_running,
        restart=Restart.TRANSIENT,
        mailbox_capacity=MAILBOX,
        overflow=Overflow.REJECT,
        passivate_after=sandbox.idle_seconds,
        # A crash is one person's broken sandbox: it must never take the others down.
        max_restarts=10_000,
        max_seconds=60.0,
        # A stop removes the sandbox; an engine that hangs is abandoned at this deadline.
        shutdown=hang_grace,
    )
    children = [ChildSpec("sandboxes", sandboxes)]
    if backend is not None:
        owned = backend
        children.insert(
            0,
            ChildSpec(
                "backend",
                lambda: BackendOwner(owned),
                restart=Restart.TEMPORARY,
                shutdown=10.0,
                mailbox_capacity=1,
            ),
        )
        logger.info(
            "sandbox: backend %s, at most %d running, %gs per run, %d MiB each",
            backend.name,
            sandbox.max_running,
            sandbox.timeout,
            sandbox.memory_mb,
        )
    supervisor = Supervisor(children, max_restarts=10, max_seconds=60.0)
    tool_settings = ToolSettings(
        timeout=sandbox.timeout,
        output_limit=sandbox.output_kb * 1024,
        work_mb=sandbox.work_mb,
        proxy_url=sandbox.proxy_url,
        packages=sandbox.packages,
        memory_mb=sandbox.memory_mb,
        index_url=sandbox.index_url,
    )
    admin = SandboxAdmin(
        sandboxes=sandboxes,
        policies=policies,
        sandbox=sandbox,
        discord=settings.discord,
        database=database,
        backend=backend.name if backend is not None else "none",
    )
    return SandboxSystem(
        spec=ChildSpec("sandbox", supervisor, shutdown=hang_grace + 15.0),
        supervisor=supervisor,
        sandboxes=sandboxes,
        backend=backend,
        admin=admin,
        policies=policies,
        tool_settings=tool_settings,
        settings=settings,
        download=http_download(http) if http is not None else None,
    )
