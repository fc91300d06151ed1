"""Tool providers and the registry that names their tools for the model."""

from __future__ import annotations

import math
import re
from typing import Any, Protocol

import msgspec
import trio

from ..adapters.llm import ToolSpec

__all__ = ["ToolFile", "ToolOutput", "ToolProvider", "ToolRegistry", "ToolResult"]

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]")
_MAX_NAME = 64  # OpenAI's limit on function names; Anthropic's is the same


class ToolFile(msgspec.Struct, frozen=True, kw_only=True):
    """A file a tool made (a chart, a script's output); sent with the reply."""

    name: str
    data: bytes


class ToolOutput(msgspec.Struct, frozen=True, kw_only=True):
    """What a tool may return instead of plain text: text for the model, files for people."""

    text: str
    files: list[ToolFile] = msgspec.field(default_factory=list)


class ToolProvider(Protocol):
    """Something that offers tools: the built-ins, an MCP server, the sandbox."""

    @property
    def name(self) -> str: ...

    def specs(self) -> list[ToolSpec]: ...

    async def call(self, tool: str, arguments: dict[str, Any]) -> str | ToolOutput:
        """Run ``tool``; its text result (and files). Raise to report a failure to the model."""
        ...


class ToolResult(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    error: bool = False
    files: list[ToolFile] = msgspec.field(default_factory=list)


def _clean(name: str) -> str:
    return _NOT_ALLOWED.sub("_", name)


class ToolRegistry:
    """Tools of every registered provider, named ``provider__tool`` for the model.

    Names are cleaned to what model APIs accept (letters, digits, ``_``, ``-``; 64 at most).
    Two tools that clean to the same name are told apart by a suffix, given in the sorted
    order of their (provider, tool), so the same set of tools always gets the same names.
    """

    def __init__(self) -> None:
        self._providers: dict[str, ToolProvider] = {}

    def register(self, provider: ToolProvider) -> None:
        if provider.name in self._providers:
            raise ValueError(f"a tool provider named {provider.name!r} is registered already")
        self._providers[provider.name] = provider

    def unregister(self, name: str) -> None:
        self._providers.pop(name, None)

    def _table(self) -> dict[str, tuple[ToolProvider, ToolSpec]]:
        entries = sorted(
            (
                (provider.name, spec.name, provider, spec)
                for provider in self._providers.values()
                for spec in provider.specs()
            ),
            key=lambda entry: (entry[0], entry[1]),
        )
        table: dict[str, tuple[ToolProvider, ToolSpec]] = {}
        for provider_name, tool_name, provider, spec in entries:
            base = _clean(f"{provider_name}__{tool_name}")[:_MAX_NAME]
            name, suffix = base, 2
            while name in table:
                tail = f"_{suffix}"
                name = base[: _MAX_NAME - len(tail)] + tail
                suffix += 1
            table[name] = (provider, spec)
        return table

    def specs(self) -> list[ToolSpec]:
        """What the model is offered, under the names it must use."""
        return [
            msgspec.structs.replace(spec, name=name) for name, (_, spec) in self._table().items()
        ]

    async def call(self, name: str, arguments: dict[str, Any], timeout: float) -> ToolResult:
        """Run the tool the model named; failures come back as text the model can read."""
        entry = self._table().get(name)
        if entry is None:
            return ToolResult(text=f"error: there is no tool named {name!r}", error=True)
        provider, spec = entry
        with trio.move_on_after(timeout if math.isfinite(timeout) else math.inf) as scope:
            try:
                output = await provider.call(spec.name, arguments)
                if isinstance(output, ToolOutput):
                    return ToolResult(text=output.text, files=output.files)
                return ToolResult(text=output)
            except Exception as error:  # a tool's failure is information for the model
                return ToolResult(text=f"error: {type(error).__name__}: {error}", error=True)
        assert scope.cancelled_caught
        return ToolResult(text=f"error: the tool did not answer within {timeout:g}s", error=True)
