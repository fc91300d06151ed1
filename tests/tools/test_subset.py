"""ToolSubset: only the named tools are offered, and only they can be called."""

from __future__ import annotations

from typing import Any

import pytest

from clara.adapters.llm import ToolSpec
from clara.tools import ToolRegistry, ToolSubset


class Switches:
    name = "switch"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def specs(self) -> list[ToolSpec]:
        return [ToolSpec(name=name, description=name) for name in ("look", "flip", "break")]

    async def call(self, tool: str, arguments: dict[str, Any]) -> str:
        self.calls.append(tool)
        return f"{tool} done"


@pytest.mark.trio
async def test_only_the_offered_tools_are_shown_and_the_others_are_refused_when_called() -> None:
    whole = Switches()
    subset = ToolSubset(whole, ["look"])
    registry = ToolRegistry()
    registry.register(subset)
    assert subset.name == "switch"
    assert [spec.name for spec in registry.specs()] == ["switch__look"]
    assert (await registry.call("switch__look", {}, timeout=5)).text == "look done"
    hidden = await registry.call("switch__flip", {}, timeout=5)
    assert hidden.error and hidden.text == "error: there is no tool named 'switch__flip'"
    with pytest.raises(PermissionError, match="the tool 'break' of 'switch' is not offered here"):
        await subset.call("break", {})
    assert whole.calls == ["look"]
