"""One live connection to an MCP server, through the official SDK.

``McpConnection.run`` is a service: it opens the transport (a child process over stdio, or
streamable HTTP, or SSE), initializes the session, lists the tools, reports itself started,
and then watches the connection until it is cancelled. A server that goes away (its process
exits, its HTTP stream closes) makes ``run`` raise ``ServerGone``: the owning actor crashes
and its supervisor restarts it with backoff.

The SDK's ``stdio_client`` spawns the server in a new session and, on close, ends stdin,
waits, then kills the whole process group. Two things it does not expose are added here:

- the server's process id, found through ``/proc`` (the child of this process whose stderr
  is the pipe made for it), so the process can be watched with a pidfd (its death is seen at
  once, not at the next request) and registered with the ``Reaper`` (so it cannot outlive
  Clara, even if Clara is killed with SIGKILL);
- the server's stderr, read line by line: logged at DEBUG, its last lines kept for the error
  that explains why a server died, and how its process ended (an exit code, or the signal
  that killed it): see ``_exit``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import mcp_types as types
import msgspec
import trio
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED

from ...errors import ServerGone, ToolCallFailed
from ..llm import ToolSpec
from ._exit import StderrTail, exit_status, wait_for_exit
from ._hosts import BadHost, Network, Resolver, check_addresses, system_resolver
from ._reaper import Reaper
from ._urls import parse_url

__all__ = [
    "McpConnection",
    "McpEndpoint",
    "ServerGone",
    "ToolCallFailed",
    "text_of",
]

logger = logging.getLogger(__name__)


class McpEndpoint(msgspec.Struct, frozen=True, kw_only=True):
    """Where an MCP server is and how to reach it."""

    name: str
    transport: str = "stdio"
    """``stdio`` (a child process), ``http`` (streamable HTTP) or ``sse``."""
    command: str = ""
    args: tuple[str, ...] = ()
    env: dict[str, str] = msgspec.field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    connect_timeout: float = 60.0


def tool_spec(tool: types.Tool) -> ToolSpec:
    """An MCP tool as the model sees it."""
    return ToolSpec(
        name=tool.name,
        description=(tool.description or tool.title or "")[:1024],
        parameters=dict(tool.input_schema or {"type": "object", "properties": {}}),
    )


def text_of(result: types.CallToolResult) -> str:
    """The text of a tool result: text parts as they are, other parts described."""
    parts: list[str] = []
    for item in result.content:
        if isinstance(item, types.TextContent):
            parts.append(item.text)
        elif isinstance(item, types.ImageContent | types.AudioContent):
            parts.append(f"[{item.type}: {item.mime_type}, {len(item.data) * 3 // 4:,} bytes]")
        elif isinstance(item, types.EmbeddedResource):
            resource = item.resource
            text = getattr(resource, "text", None)
            parts.append(text if isinstance(text, str) else f"[resource {resource.uri}]")
        elif isinstance(item, types.ResourceLink):
            parts.append(f"[resource link {item.uri}]")
        else:
            parts.append(f"[{getattr(item, 'type', type(item).__name__)}]")
    if not parts and result.structured_content is not None:
        parts.append(msgspec.json.encode(result.structured_content).decode())
    return "\n".join(parts)


def _child_with_stderr(inode: tuple[int, int]) -> int | None:
    """The pid of this process's child whose fd 2 is the pipe with ``inode``."""
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as children:
                pids = [int(pid) for pid in children.read().split()]
        except OSError:
            continue
        for pid in pids:
            try:
                found = os.stat(f"/proc/{pid}/fd/2")
            except OSError:
                continue
            if (found.st_dev, found.st_ino) == inode:
                return pid
    return None


class McpConnection:
    """A session with one MCP server, open while ``run`` runs.

    Args:
        endpoint: the server.
        reaper: kills stdio servers if Clara dies without closing them (None: not guarded).
        on_tools_changed: called (from the session's task) when the server says its tool list
            changed; the tools are listed again first.
        auth: authenticates every request to a remote server (``BearerAuth`` for OAuth).
        resolve: how a remote server's host is resolved for the check before each
            connection (the system's resolver by default).
    """

    def __init__(
        self,
        endpoint: McpEndpoint,
        *,
        reaper: Reaper | None = None,
        on_tools_changed: Callable[[list[ToolSpec]], None] | None = None,
        auth: httpx2.Auth | None = None,
        resolve: Resolver = system_resolver,
    ) -> None:
        self.endpoint = endpoint
        self.resolve = resolve
        self._reaper = reaper
        self._on_tools_changed = on_tools_changed
        self._auth = auth
        self.session: ClientSession | None = None
        self.pid: int | None = None
        self.tools: list[ToolSpec] = []
        self.server_name = ""
        self.server_version = ""
        self.stderr = StderrTail(endpoint.name)
        self.exit_status: str | None = None
        """How the server's process ended (``was killed by SIGKILL``), once it has."""
        self._refresh: trio.Event = trio.Event()

    # -- life -------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[McpConnection]) -> None:
        """Connect, report started, then watch until cancelled; ``ServerGone`` if it ends.

        Failures come out as the one exception that caused them, not wrapped in the
        exception groups of the nurseries inside.
        """
        try:
            await self._run(task_status)
        except BaseExceptionGroup as group:
            leaves = leaf_errors(group)
            chosen: BaseException | None = next(
                (e for e in leaves if isinstance(e, ServerGone)), None
            )
            if chosen is None:
                real = [e for e in leaves if not isinstance(e, trio.Cancelled)]
                chosen = real[0] if len(real) == 1 else None
            if chosen is None:
                raise
            raise chosen from group

    async def _run(self, task_status: trio.TaskStatus[McpConnection]) -> None:
        async with trio.open_nursery() as nursery, self._transport(nursery) as streams:
            read, write = streams
            async with ClientSession(
                read, write, message_handler=self._on_message, client_info=_CLIENT
            ) as session:
                with trio.fail_after(self.endpoint.connect_timeout):
                    result = await session.initialize()
                    self.server_name = result.server_info.name
                    self.server_version = result.server_info.version or ""
                    self.session = session
                    await self._list_tools()
                self.stderr.mark_started()
                task_status.started(self)
                try:
                    await self._watch(nursery)
                finally:
                    self.session = None
                    nursery.cancel_scope.cancel()

    async def _watch(self, nursery: trio.Nursery) -> None:
        """Until the server goes away: list tools again when it says they changed."""
        if self.pid is not None:
            nursery.start_soon(self._watch_process, self.pid)
        while True:
            await self._refresh.wait()
            self._refresh = trio.Event()
            try:
                await self._list_tools()
            except MCPError as error:
                raise ServerGone(f"{self.endpoint.name}: listing tools failed: {error}") from error
            if self._on_tools_changed is not None:
                self._on_tools_changed(self.tools)

    async def _watch_process(self, pid: int) -> None:
        try:
            fd = os.pidfd_open(pid)
        except (OSError, AttributeError):  # gone already, or no pidfd: the ping will notice
            return
        try:
            await trio.lowlevel.wait_readable(fd)
        finally:
            os.close(fd)
        self._note_exit(pid)
        raise ServerGone(self.explain(f"process {pid} {self.exit_status or 'exited'}"))

    async def _lost(self) -> str:
        pid = self.pid
        if pid is not None:
            # The pipe closes a moment before the process is seen to exit: wait that moment.
            await wait_for_exit(pid, 0.1)
            self._note_exit(pid)
            if self.exit_status is not None:
                return f"process {pid} {self.exit_status} (connection lost)"
            if not _running(pid):
                return f"process {pid} exited (connection lost)"
        return "connection lost"

    def _note_exit(self, pid: int) -> None:
        """Read how the process ended, if it has, and what it still had to say on stderr."""
        if self.exit_status is None:
            self.exit_status = exit_status(pid)
        self.stderr.drain()

    def explain(self, what: str) -> str:
        """``what`` happened, with how the process ended (when it has, and ``what`` does not
        say) and the stderr lines that matter (``StderrTail.note``)."""
        text = f"{self.endpoint.name}: {what}"
        if self.exit_status is not None and self.exit_status not in what:
            text += f"; process {self.pid} {self.exit_status}"
        if self.endpoint.transport != "stdio":
            return text
        return text + self.stderr.note()

    @contextlib.asynccontextmanager
    async def _transport(self, nursery: trio.Nursery) -> AsyncIterator[Any]:
        endpoint = self.endpoint
        if endpoint.transport == "stdio":
            async with self._stdio(nursery) as streams:
                yield streams
            return
        assert endpoint.url is not None, "a remote MCP server needs a url"
        await self._check_reach(endpoint.url)
        headers = dict(endpoint.headers)
        if endpoint.transport == "sse":
            async with sse_client(
                endpoint.url, headers=headers, timeout=30.0, auth=self._auth
            ) as streams:
                yield streams
            return
        async with (
            create_mcp_http_client(headers=headers, auth=self._auth) as client,
            streamable_http_client(endpoint.url, http_client=client) as streams,
        ):
            yield streams

    async def _check_reach(self, text: str) -> None:
        """Every address the server's host has now is public, or of the class the URL names
        (a loopback or private address written out, which the operator allowed at install):
        checked at every connection, so a name that re-resolves to an internal address
        after the install (DNS rebinding) is not followed."""
        try:
            url = parse_url(text)
            await check_addresses(
                url.host, url.effective_port, {Network.PUBLIC, url.host.network}, self.resolve
            )
        except BadHost as error:
            raise ServerGone(f"{self.endpoint.name}: not connecting: {error}") from None

    @contextlib.asynccontextmanager
    async def _stdio(self, nursery: trio.Nursery) -> AsyncIterator[Any]:
        endpoint = self.endpoint
        read_fd, write_fd = os.pipe()
        stat = os.fstat(write_fd)
        errlog = os.fdopen(write_fd, "w")
        nursery.start_soon(self.stderr.pump, read_fd)
        parameters = StdioServerParameters(
            command=endpoint.command, args=list(endpoint.args), env=endpoint.env, cwd=endpoint.cwd
        )
        try:
            async with stdio_client(parameters, errlog=errlog) as streams:
                errlog.close()  # the child holds its own copy: EOF comes when it dies
                self.pid = _child_with_stderr((stat.st_dev, stat.st_ino))
                if self.pid is not None and self._reaper is not None:
                    await self._reaper.guard(self.pid)
                try:
                    yield streams
                except BaseException as error:
                    # Not a stop: the server failed (at start, say). Its process is likely
                    # ending: give it a moment, so the error can say how it ended.
                    if self.pid is not None and not _stopping(error):
                        with trio.CancelScope(shield=True):
                            await wait_for_exit(self.pid, 0.2)
                    raise
                finally:
                    if self.pid is not None:
                        # Before the SDK's shutdown reaps it (and the status with it).
                        self._note_exit(self.pid)
                    if self.pid is not None and self._reaper is not None:
                        await self._reaper.release(self.pid)
        finally:
            if not errlog.closed:
                errlog.close()

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._refresh.set()
        elif isinstance(message, Exception):
            logger.info("mcp %s: transport problem: %s", self.endpoint.name, message)

    # -- requests ---------------------------------------------------------------------------

    def _session(self) -> ClientSession:
        if self.session is None:
            raise ServerGone(f"{self.endpoint.name}: not connected")
        return self.session

    async def _list_tools(self) -> None:
        session = self._session()
        tools: list[ToolSpec] = []
        cursor: str | None = None
        for _ in range(100):  # pages; a server that never stops paging is cut off
            params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            listing = await session.list_tools(params=params)
            tools.extend(tool_spec(tool) for tool in listing.tools)
            cursor = listing.next_cursor
            if not cursor:
                break
        self.tools = tools

    async def call_tool(self, tool: str, arguments: dict[str, Any]) -> types.CallToolResult:
        """Call ``tool``. ``ServerGone`` if the connection is lost, ``ToolCallFailed`` for a
        protocol error the server answered with."""
        session = self._session()
        try:
            result = await session.call_tool(tool, arguments)
        except MCPError as error:
            if _connection_lost(error):
                raise ServerGone(self.explain(await self._lost())) from error
            raise ToolCallFailed(f"{tool}: {error}") from error
        if not isinstance(result, types.CallToolResult):
            raise ToolCallFailed(f"{tool}: the server answered with a {type(result).__name__}")
        return result

    async def ping(self) -> None:
        """One round trip; ``ServerGone`` if it fails (the caller bounds the wait)."""
        try:
            await self._session().send_ping()
        except MCPError as error:
            raise ServerGone(self.explain(f"ping failed: {error}")) from error
        except httpx2.HTTPError as error:
            raise ServerGone(self.explain(f"ping failed: {error}")) from error


_CLIENT = types.Implementation(name="clara", version="1")


def _running(pid: int) -> bool:
    """False once the process has exited (gone, or a zombie not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def leaf_errors(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The exceptions inside ``group`` and its nested groups, in order."""
    found: list[BaseException] = []
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            found.extend(leaf_errors(error))
        else:
            found.append(error)
    return found


def _stopping(error: BaseException) -> bool:
    """Whether ``error`` is only a stop (cancellation), not a failure."""
    if isinstance(error, BaseExceptionGroup):
        return all(_stopping(leaf) for leaf in leaf_errors(error))
    return isinstance(error, trio.Cancelled | GeneratorExit)


def _connection_lost(error: MCPError) -> bool:
    return error.code == CONNECTION_CLOSED
