"""Tools for the model: providers (the built-ins, the chat history, MCP servers; the sandbox
later), the registry that names them ``provider__tool``, and the tool loop."""

from ._builtin import BuiltinTools
from ._history import CanRead, ChatHistoryTools
from ._loop import LoopResult, ToolProgress, run_tool_loop
from ._registry import ToolFile, ToolOutput, ToolProvider, ToolRegistry, ToolResult
from ._subset import ToolSubset

__all__ = [
    "BuiltinTools",
    "CanRead",
    "ChatHistoryTools",
    "LoopResult",
    "ToolFile",
    "ToolOutput",
    "ToolProgress",
    "ToolProvider",
    "ToolRegistry",
    "ToolResult",
    "ToolSubset",
    "run_tool_loop",
]
