"""What the tool loop sees of an MCP server: one provider per enabled server.

Its tools reach the model as ``server__tool``. A call to a server that is down fails at
once with a tool error saying so (and when it will be tried again), counted in the server's
``ServerHealth`` as refused; other servers are not affected. A call that runs out of time
on a server that is up says that it timed out, and what the limit was (``ToolTimeout``),
not that the server is unavailable.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import trio

from ...adapters.llm import ToolSpec
from ...adapters.mcp import ServerGone, ToolCallFailed, text_of
from ...errors import ToolUnavailable, TooManyChildren
from ...supervisors import DynamicSupervisor
from ...tools import ToolFile, ToolOutput
from .. import ActorState
from .entries import CatalogEntry
from .health import ServerHealth
from .server import CallTool

__all__ = ["McpServerTools", "ToolUnavailable"]


class McpServerTools:
    """One server's tools for the tool loop; calls go to its actor (started on demand).

    Args:
        entry: the server, as the catalog has it.
        servers: the DynamicSupervisor of server actors.
        health: the server's totals (``McpHealth.of(name)``), where calls refused while it
            is down are counted; None counts them nowhere.
    """

    def __init__(
        self,
        entry: CatalogEntry,
        servers: Callable[[], DynamicSupervisor],
        *,
        now: Callable[[], float] = trio.current_time,
        health: ServerHealth | None = None,
    ) -> None:
        self.entry = entry
        self._servers = servers
        self._now = now
        self._health = health

    @property
    def name(self) -> str:
        return self.entry.name

    def specs(self) -> list[ToolSpec]:
        return [
            ToolSpec(name=tool.name, description=tool.description, parameters=tool.parameters)
            for tool in self.entry.config.tools
        ]

    async def call(self, tool: str, arguments: dict[str, Any]) -> str | ToolOutput:
        supervisor = self._servers()
        name = self.entry.name
        ref = supervisor.get(name)
        if ref is not None:
            stats = ref.statistics()
            if stats.state in (ActorState.BACKING_OFF, ActorState.FAILED):
                if self._health is not None:
                    self._health.refused += 1
                why = stats.last_failure.message if stats.last_failure else "it crashed"
                again = ""
                if stats.backoff is not None and stats.backoff.next_start_in is not None:
                    again = f"; it restarts in {stats.backoff.next_start_in:.1f}s"
                raise ToolUnavailable(f"the MCP server {name} is down ({why}){again}")
        else:
            try:
                ref = await supervisor.get_or_start(name)
            except TooManyChildren as error:
                raise ToolUnavailable(
                    f"the MCP server {name} cannot start now: {supervisor.max_children} servers "
                    "are running and busy (CLARA_MCP_MAX_RUNNING)"
                ) from error
        try:
            result = await ref.ask(CallTool(tool=tool, arguments=arguments), timeout=None)
        except ServerGone as error:  # it went away during the call: it is down now
            raise ToolUnavailable(str(error)) from error
        # A ToolTimeout or ToolCallFailed goes to the model as it is: the server is up, and
        # "timed out after 60s" says more than "unavailable".
        text = text_of(result)
        if result.is_error:
            raise ToolCallFailed(text or "the tool reported an error")
        files = _files_of(tool, result)
        return ToolOutput(text=text, files=files) if files else text


def _files_of(tool: str, result: Any) -> list[ToolFile]:
    """Images and audio a tool returned, as files to send with the reply."""
    files: list[ToolFile] = []
    for index, item in enumerate(result.content):
        mime = getattr(item, "mime_type", None)
        data = getattr(item, "data", None)
        if not isinstance(mime, str) or not isinstance(data, str):
            continue
        try:
            raw = base64.b64decode(data, validate=True)
        except ValueError:
            continue
        extension = mime.split("/")[-1].split("+")[0][:8] or "bin"
        files.append(ToolFile(name=f"{tool}-{index + 1}.{extension}", data=raw))
    return files
