"""ToolSubset: a provider offering only some of another provider's tools."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..adapters.llm import ToolSpec
from ._registry import ToolOutput, ToolProvider

__all__ = ["ToolSubset"]


class ToolSubset:
    """Only the tools named in ``offered`` of ``provider``, under its name.

    What the model is offered is what the person it answers may use: a tool they may not
    use is not shown at all (the model cannot be talked into calling it, and it costs no
    context). A call to one of the others, should the model name it anyway, is refused
    here too; the provider's own checks stay behind this one.

    Args:
        provider: the whole provider.
        offered: the names (the provider's own, without its prefix) of the tools to offer.
    """

    def __init__(self, provider: ToolProvider, offered: Iterable[str]) -> None:
        self._provider = provider
        self._offered = frozenset(offered)

    @property
    def name(self) -> str:
        return self._provider.name

    def specs(self) -> list[ToolSpec]:
        return [spec for spec in self._provider.specs() if spec.name in self._offered]

    async def call(self, tool: str, arguments: dict[str, Any]) -> str | ToolOutput:
        if tool not in self._offered:
            raise PermissionError(f"the tool {tool!r} of {self.name!r} is not offered here")
        return await self._provider.call(tool, arguments)
