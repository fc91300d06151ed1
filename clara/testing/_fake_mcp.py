"""An MCP server in memory, for ``McpServerActor``: tools in Python, death and hangs on cue.

One ``FakeMcpConnection`` plays one server for the whole test: every connection its actor
opens (one per incarnation, after a crash or a passivation) is this object, run again. Pass
the fake itself as the actor's ``connection_factory``::

    server = FakeMcpConnection({"add": add, "motto": "carpe diem"})
    ref = await kit.spawn(lambda: McpServerActor(ENDPOINT, connection_factory=server))
    result = await ref.ask(CallTool(tool="add", arguments={"a": 2, "b": 3}))
    server.die()                                   # the actor crashes with ServerGone

Hangs and delays wait on trio time, so ``autojump_clock`` moves them at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import mcp_types as types
import trio

from ..adapters.llm import ToolSpec
from ..adapters.mcp import McpEndpoint, ServerGone, ToolCallFailed

if TYPE_CHECKING:
    from ..adapters.mcp import Connection, ConnectionFactory

__all__ = ["FakeMcpConnection", "FakeTool", "McpToolCall"]

#: A tool: an async function of the call's arguments (text or a whole result; an exception
#: it raises becomes a result with ``is_error``, as an SDK server answers), or a fixed answer.
FakeTool = (
    Callable[[dict[str, Any]], Awaitable[str | types.CallToolResult]] | str | types.CallToolResult
)


@dataclass(frozen=True)
class McpToolCall:
    """One tool call the server got."""

    tool: str
    arguments: dict[str, Any]
    at: float
    """``trio.current_time()`` when it arrived."""


class FakeMcpConnection:
    """A ``Connection`` (and its ``ConnectionFactory``) served from Python, in memory.

    Args:
        tools: name → ``FakeTool``.
        name: the server's name in its answers (``server_name``).
        connect_delay: seconds (trio time) each connection takes.
    """

    def __init__(
        self,
        tools: Mapping[str, FakeTool] | None = None,
        *,
        name: str = "fake",
        connect_delay: float = 0.0,
    ) -> None:
        self._handlers: dict[str, FakeTool] = dict(tools or {})
        self.server_name = name
        self.server_version = "1.0"
        self.pid: int | None = None
        self.connect_delay = connect_delay
        self.endpoint: McpEndpoint | None = None
        """What the last connection was made for (secret variables merged in)."""
        self.connections = 0
        """How many times ``run`` started (one per incarnation of its actor)."""
        self.calls: list[McpToolCall] = []
        self.pings = 0
        self.connected = False
        self.hung = False
        self._refusal: str | None = None
        self._death: str | None = None
        self._changed = False
        self._wake = trio.Event()
        self._in_flight: set[trio.CancelScope] = set()
        self._drained = trio.Event()
        self._on_tools_changed: Callable[[list[ToolSpec]], None] | None = None

    # -- what the test does ---------------------------------------------------------------------

    def set_tools(self, tools: Mapping[str, FakeTool]) -> None:
        """Replace the tools and, when connected, send ``tools/list_changed``: the actor is
        told the new list, as the real connection tells it after listing them again."""
        self._handlers = dict(tools)
        if self.connected:
            self._changed = True
            self._wake.set()

    def die(self, reason: str = "process 4242 exited") -> None:
        """The server goes away: ``run`` and the calls in flight raise ``ServerGone``."""
        self._death = reason
        for scope in self._in_flight:
            scope.cancel()
        self._wake.set()

    def hang(self, hung: bool = True) -> None:
        """From now on, calls and pings get no answer (False: they are answered again)."""
        self.hung = hung

    def refuse(self, reason: str | None = "connection refused") -> None:
        """Make the next connections fail with ``ServerGone`` (None: accept them again)."""
        self._refusal = reason

    # -- the ConnectionFactory protocol ---------------------------------------------------------

    def __call__(
        self, endpoint: McpEndpoint, *, on_tools_changed: Callable[[list[ToolSpec]], None]
    ) -> FakeMcpConnection:
        """This fake, as the connection for ``endpoint``."""
        self.endpoint = endpoint
        self._on_tools_changed = on_tools_changed
        return self

    # -- the Connection protocol ----------------------------------------------------------------

    @property
    def tools(self) -> list[ToolSpec]:
        return [ToolSpec(name=name, description=f"the fake tool {name}") for name in self._handlers]

    async def run(self, *, task_status: trio.TaskStatus[Any]) -> None:
        """Connect (after ``connect_delay``), report started, watch until cancelled.

        Raises:
            ServerGone: ``refuse`` was called (before started), or ``die`` (after).
            RuntimeError: the fake is running already (two actors share one fake).
        """
        if self.connected:
            raise RuntimeError("this FakeMcpConnection is connected already: one actor per fake")
        self.connections += 1
        if self._refusal is not None:
            raise ServerGone(self.explain(f"could not connect: {self._refusal}"))
        await trio.sleep(self.connect_delay)
        self._death, self._changed, self._wake = None, False, trio.Event()
        self.connected = True
        try:
            task_status.started(self)
            while True:
                await self._wake.wait()
                self._wake = trio.Event()
                if self._death is not None:
                    # The calls in flight fail first (each answers its caller with
                    # ServerGone), then the connection: the order is the same every run.
                    while self._in_flight:
                        self._drained = trio.Event()
                        await self._drained.wait()
                    raise ServerGone(self.explain(self._death))
                if self._changed and self._on_tools_changed is not None:
                    self._changed = False
                    self._on_tools_changed(self.tools)
        finally:
            self.connected = False

    async def call_tool(self, tool: str, arguments: dict[str, Any]) -> types.CallToolResult:
        """Answer from the tool's ``FakeTool``.

        Raises:
            ServerGone: not connected, or the server died during the call.
            ToolCallFailed: there is no such tool.
        """
        self._check_connected()
        self.calls.append(McpToolCall(tool=tool, arguments=dict(arguments), at=trio.current_time()))
        with trio.CancelScope() as scope:
            self._in_flight.add(scope)
            try:
                if self.hung:
                    await trio.sleep_forever()
                return await self._answer(tool, arguments)
            finally:
                self._in_flight.discard(scope)
                if not self._in_flight:
                    self._drained.set()
        raise ServerGone(self.explain(f"{self._death or 'gone'} (connection lost)"))

    async def ping(self) -> None:
        """A round trip: never answered while ``hung``.

        Raises:
            ServerGone: not connected.
        """
        self._check_connected()
        if self.hung:
            await trio.sleep_forever()
        await trio.lowlevel.checkpoint()
        self.pings += 1

    def explain(self, what: str) -> str:
        """``what`` happened, prefixed with the endpoint's name, as the real one does."""
        name = self.endpoint.name if self.endpoint is not None else self.server_name
        return f"{name}: {what}"

    # -- plumbing -------------------------------------------------------------------------------

    def _check_connected(self) -> None:
        if not self.connected or self._death is not None:
            raise ServerGone(self.explain("not connected"))

    async def _answer(self, tool: str, arguments: dict[str, Any]) -> types.CallToolResult:
        handler = self._handlers.get(tool)
        if handler is None:
            raise ToolCallFailed(f"{tool}: unknown tool")
        if isinstance(handler, str | types.CallToolResult):
            await trio.lowlevel.checkpoint()
            answer: str | types.CallToolResult = handler
        else:
            try:
                answer = await handler(dict(arguments))
            except (ServerGone, ToolCallFailed):
                raise
            except Exception as error:  # a failing tool is an error result, as SDK servers give
                return _text(f"Error executing tool {tool}: {error}", is_error=True)
        return _text(answer) if isinstance(answer, str) else answer


def _text(text: str, *, is_error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], is_error=is_error
    )


if TYPE_CHECKING:  # mypy checks that the fake keeps up with the protocols

    def _is_a_connection(fake: FakeMcpConnection) -> Connection:
        return fake

    def _is_a_factory(fake: FakeMcpConnection) -> ConnectionFactory:
        return fake
