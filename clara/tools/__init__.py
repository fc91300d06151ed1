"""Tools for the model: providers (the built-ins, the chat history, the asker's own mail, MCP
servers; the sandbox later), the registry that names them ``provider__tool``, and the tool loop."""

from ._builtin import BuiltinTools
from ._email import EmailTools, MailToolbox, MailUnreachable
from ._history import CanRead, ChatHistoryTools
from ._loop import LoopResult, ToolProgress, run_tool_loop
from ._mail_owners import MailOwners
from ._registry import ToolFile, ToolOutput, ToolProvider, ToolRegistry, ToolResult
from ._subset import ToolSubset

__all__ = [
    "BuiltinTools",
    "CanRead",
    "ChatHistoryTools",
    "EmailTools",
    "LoopResult",
    "MailOwners",
    "MailToolbox",
    "MailUnreachable",
    "ToolFile",
    "ToolOutput",
    "ToolProgress",
    "ToolProvider",
    "ToolRegistry",
    "ToolResult",
    "ToolSubset",
    "run_tool_loop",
]
