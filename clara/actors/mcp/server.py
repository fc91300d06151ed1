"""McpServerActor: one per MCP server in use; owns its connection (and so its process).

It connects on first use (and at once after a crash restart), serves many tool calls at
once (each ask is deferred and answered by a task), pings the server while connected, and
crashes when the server dies or stops answering pings, so its supervisor restarts it with
backoff (``server_backoff``: ``CLARA_MCP_BACKOFF_*``). A call that takes longer than its
timeout is answered with a ``ToolTimeout`` (the server may just be slow: the ping decides
whether it is hung). Idle ones are passivated by their DynamicSupervisor, which closes the
connection and ends the process; the next call starts it again.

What it counts (calls, failures, time-outs, its crash and why) goes to the server's
``ServerHealth``, which outlives each incarnation: the totals of ``/mcp status`` are the
server's since Clara started, not this incarnation's.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import trio

from ...adapters.llm import ToolSpec
from ...adapters.mcp import (
    Connection,
    ConnectionFactory,
    McpConnection,
    McpEndpoint,
    Reaper,
    ServerGone,
    ToolCallFailed,
)
from ...config import McpSettings
from ...errors import ToolTimeout
from ...supervisors import Backoff
from .. import Actor, DeferredReply
from .health import ServerHealth

__all__ = [
    "CallTool",
    "ListTools",
    "McpServerActor",
    "ToolTimeout",
    "ToolsListed",
    "server_backoff",
]

logger = logging.getLogger(__name__)


class CallTool(msgspec.Struct, frozen=True, kw_only=True):
    """Ask: call ``tool``. Answered with the SDK's ``CallToolResult``; fails with
    ``ToolTimeout``, ``ToolCallFailed`` or ``ServerGone``."""

    tool: str
    arguments: dict[str, Any] = msgspec.field(default_factory=dict)
    timeout: float | None = None


class ListTools(msgspec.Struct, frozen=True):
    """Ask: connect if needed; answered with the server's tools (``list[ToolSpec]``)."""


class ToolsListed(msgspec.Struct, frozen=True, kw_only=True):
    """Told to whoever keeps the catalog: a server's current tools (on connect, on change)."""

    server: str
    tools: list[ToolSpec]


def server_backoff(mcp: McpSettings) -> Backoff:
    """The backoff servers are restarted with: ``CLARA_MCP_BACKOFF_MIN`` doubling up to
    ``CLARA_MCP_BACKOFF_MAX``, from the start again after ``CLARA_MCP_BACKOFF_RESET`` seconds
    without a crash. A minimum above the maximum is taken as the maximum (someone who asks
    for at most 0.2 s means it)."""
    return Backoff(
        min=min(mcp.backoff_min, mcp.backoff_max),
        max=mcp.backoff_max,
        reset_after=mcp.backoff_reset,
    )


class McpServerActor(Actor):
    """Owns one server's connection.

    Args:
        endpoint: how to reach the server.
        reaper: guards stdio processes against Clara dying abruptly.
        call_timeout: seconds one tool call may take (a ``CallTool`` may ask for less).
        ping_interval: seconds between pings while connected.
        ping_timeout: seconds a ping may take before the server counts as hung.
        on_tools: called with ``ToolsListed`` whenever the tool list is (re)read.
        auth: authenticates requests to a remote server that needs OAuth.
        secrets: returns the server's secret environment variables (read when it connects).
        max_in_flight: calls served at once; more wait in the mailbox.
        connection_factory: makes each incarnation's connection (default: an
            ``McpConnection`` with ``reaper`` and ``auth``; tests pass a fake's).
        health: the server's totals, shared by its incarnations (``McpHealth.of(name)``);
            None: this incarnation's own, which start at zero.
    """

    def __init__(
        self,
        endpoint: McpEndpoint,
        *,
        reaper: Reaper | None = None,
        call_timeout: float = 60.0,
        ping_interval: float = 30.0,
        ping_timeout: float = 10.0,
        on_tools: Callable[[ToolsListed], None] | None = None,
        auth: Any = None,
        secrets: Callable[[], Awaitable[dict[str, str]]] | None = None,
        max_in_flight: int = 16,
        connection_factory: ConnectionFactory | None = None,
        health: ServerHealth | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._reaper = reaper
        self.call_timeout = call_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self._on_tools = on_tools
        self._auth = auth
        self._secrets = secrets
        self._limiter = trio.CapacityLimiter(max_in_flight)
        self._connection_factory = connection_factory or self._real_connection
        self.connection: Connection | None = None
        self._connecting: trio.Event | None = None
        self._connect_error: BaseException | None = None
        self.health = health if health is not None else ServerHealth()
        self._crashed = False
        self.pings = 0
        self.connected_at: float | None = None

    async def on_start(self) -> None:
        if self.context.restarts:
            # Restarted after a crash: the server was in use, so it is likely to be used
            # again soon. Connect now rather than on the next call, which then finds it ready.
            self.context.start_task(self._warm, name="reconnect")

    async def _warm(self) -> None:
        try:
            await self._connected()
        except ServerGone as error:  # stay lazy: the next call tries (and crashes) again
            logger.info("mcp %s: reconnecting after a crash failed: %s", self.endpoint.name, error)

    async def on_stop(self) -> None:
        # Whatever ended this incarnation ended its connection (a service of it) too.
        self.connection = None

    def _crashing(self, error: ServerGone) -> None:
        """``error`` is about to crash this incarnation: record it, once (several calls may
        learn of the same death)."""
        if not self._crashed:
            self._crashed = True
            self.health.crashed(error, trio.current_time())

    # -- messages ---------------------------------------------------------------------------

    async def on_receive(self, message: Any) -> Any:
        if isinstance(message, CallTool | ListTools):
            reply = self.context.defer()
            token = object()
            await self._limiter.acquire_on_behalf_of(token)
            self.context.start_task(self._serve, message, reply, token, name="call")
            return None
        raise TypeError(f"McpServerActor does not handle {type(message).__name__}")

    async def _serve(
        self, message: CallTool | ListTools, reply: DeferredReply, token: object
    ) -> None:
        try:
            if isinstance(message, CallTool):
                self.health.calls += 1
            try:
                connection = await self._connected()
            except ServerGone as error:
                if isinstance(message, CallTool):
                    self.health.failed += 1
                reply.fail(error)
                # A server that cannot be started crashes its actor: restart, backoff.
                self._crashing(error)
                raise
            if isinstance(message, ListTools):
                reply.reply(list(connection.tools))
                return
            await self._call(connection, message, reply)
        finally:
            self._limiter.release_on_behalf_of(token)

    async def _call(self, connection: Connection, message: CallTool, reply: DeferredReply) -> None:
        timeout = self.call_timeout
        if message.timeout is not None:
            timeout = min(timeout, message.timeout)
        with trio.move_on_after(timeout if math.isfinite(timeout) else math.inf) as scope:
            try:
                result = await connection.call_tool(message.tool, message.arguments)
            except ServerGone as error:
                self.health.failed += 1
                reply.fail(error)
                self._crashing(error)
                raise
            except ToolCallFailed as error:
                self.health.failed += 1
                reply.fail(error)
                return
            reply.reply(result)
        if scope.cancelled_caught:
            self.health.timed_out += 1
            reply.fail(
                ToolTimeout(
                    f"{self.endpoint.name}: timed out: {message.tool} did not answer within "
                    f"{timeout:g}s, the limit for one call"
                )
            )

    async def _connected(self) -> Connection:
        """The connection, opened on first use (concurrent callers share one attempt)."""
        while self.connection is None:
            if self._connecting is not None:
                await self._connecting.wait()
                if self.connection is None and self._connect_error is not None:
                    raise ServerGone(f"{self.endpoint.name}: {self._connect_error}")
                continue
            self._connecting = trio.Event()
            try:
                endpoint = self.endpoint
                if self._secrets is not None:
                    extra = await self._secrets()
                    endpoint = msgspec.structs.replace(endpoint, env={**endpoint.env, **extra})
                connection = self._connection_factory(
                    endpoint, on_tools_changed=self._tools_changed
                )
                try:
                    self.connection = await self.context.start_service(
                        self._run_connection, connection, name="connection"
                    )
                except Exception as error:
                    self._connect_error = error
                    what = f"{type(error).__name__}: {error}" if str(error) else repr(error)
                    raise ServerGone(connection.explain(f"could not connect: {what}")) from error
                self.connected_at = trio.current_time()
                # Pings run beside the mailbox, not through it: only calls count as use, so
                # a pinged server still goes idle and is stopped.
                self.context.start_task(self._pinger, connection, name="pinger")
                self._tools_changed(connection.tools)
                logger.info(
                    "mcp %s connected: %s %s, %d tools%s",
                    self.endpoint.name,
                    connection.server_name,
                    connection.server_version,
                    len(connection.tools),
                    f", pid {connection.pid}" if connection.pid else "",
                )
            finally:
                self._connecting.set()
                self._connecting = None
        return self.connection

    async def _run_connection(
        self, connection: Connection, *, task_status: trio.TaskStatus[Any]
    ) -> None:
        """The connection's ``run``; its end, once it had started, is this incarnation's crash."""
        status = _StartedFlag(task_status)
        try:
            await connection.run(task_status=status)
        except ServerGone as error:
            if status.started_yet:  # before that, _connected's caller records it
                self._crashing(error)
            raise

    def _real_connection(
        self, endpoint: McpEndpoint, *, on_tools_changed: Callable[[list[ToolSpec]], None]
    ) -> Connection:
        return McpConnection(
            endpoint, reaper=self._reaper, on_tools_changed=on_tools_changed, auth=self._auth
        )

    def _tools_changed(self, tools: list[ToolSpec]) -> None:
        if self._on_tools is not None:
            self._on_tools(ToolsListed(server=self.endpoint.name, tools=list(tools)))

    async def _pinger(self, connection: Connection) -> None:
        """Every ``ping_interval``: a ping; no answer within ``ping_timeout`` is a crash."""
        while True:
            await trio.sleep(self.ping_interval)
            with trio.move_on_after(self.ping_timeout) as scope:
                try:
                    await connection.ping()
                except ServerGone as error:
                    self._crashing(error)
                    raise
            if scope.cancelled_caught:
                hung = ServerGone(
                    connection.explain(f"hung: no answer to a ping within {self.ping_timeout:g}s")
                )
                self._crashing(hung)
                raise hung
            self.pings += 1

    # -- introspection ----------------------------------------------------------------------

    def describe(self) -> dict[str, Any] | None:
        connection = self.connection
        details: dict[str, Any] = {
            "transport": self.endpoint.transport,
            "connected": connection is not None,
            "in_flight": self._limiter.borrowed_tokens,
            "pings": self.pings,
            # Totals since Clara started, across restarts (the last failure is the node's own
            # last_failure, beside the backoff that says when the next start is).
            **self.health.totals(),
        }
        if connection is not None:
            details.update(
                server=f"{connection.server_name} {connection.server_version}".strip(),
                tools=len(connection.tools),
                pid=connection.pid,
            )
        return details


class _StartedFlag:
    """A ``task_status`` that remembers whether ``started()`` was called."""

    __slots__ = ("_inner", "started_yet")

    def __init__(self, inner: trio.TaskStatus[Any]) -> None:
        self._inner = inner
        self.started_yet = False

    def started(self, value: Any = None) -> None:
        self.started_yet = True
        self._inner.started(value)
