"""Tools Clara always has: the time (in any time zone) and a search of its memories."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..adapters.llm import ToolSpec

__all__ = ["BuiltinTools"]

MemorySearch = Callable[[str], Awaitable[list[str]]]


class BuiltinTools:
    """``current_time`` and, when memory is on, ``memory_search``.

    Args:
        memory_search: searches the memories of the person being answered.
        now: the clock (for tests).
    """

    name = "clara"

    def __init__(
        self,
        memory_search: MemorySearch | None = None,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self._memory_search = memory_search
        self._now = now or (lambda: dt.datetime.now(dt.UTC))

    def specs(self) -> list[ToolSpec]:
        specs = [
            ToolSpec(
                name="current_time",
                description="The current date and time, in a given IANA time zone (default UTC).",
                parameters={
                    "type": "object",
                    "properties": {
                        "time_zone": {"type": "string", "description": "e.g. Europe/Paris"}
                    },
                },
            )
        ]
        if self._memory_search is not None:
            specs.append(
                ToolSpec(
                    name="memory_search",
                    description="Search what you remember about the person you are talking to.",
                    parameters={
                        "type": "object",
                        "properties": {"query": {"type": "string"}},
                        "required": ["query"],
                    },
                )
            )
        return specs

    async def call(self, tool: str, arguments: dict[str, Any]) -> str:
        if tool == "current_time":
            zone_name = str(arguments.get("time_zone") or "UTC")
            try:
                zone = ZoneInfo(zone_name)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {zone_name!r}") from None
            moment = self._now().astimezone(zone)
            return f"{moment:%A %Y-%m-%d %H:%M} ({zone_name})"
        if tool == "memory_search" and self._memory_search is not None:
            query = str(arguments.get("query") or "").strip()
            if not query:
                raise ValueError("query is required")
            found = await self._memory_search(query)
            return "\n".join(f"- {item}" for item in found) or "(nothing remembered about that)"
        raise ValueError(f"no such tool {tool!r}")
