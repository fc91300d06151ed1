"""Clara's error tree: every error Clara raises on purpose is one of these.

::

    ClaraError
    ├── ConfigError                     a setting is missing or malformed (names the variable)
    ├── LlmError                        a model provider gave no usable answer
    │   ├── ProviderUnavailable         could not connect, or a 5xx (worth retrying)
    │   ├── ProviderRateLimited         429; ``retry_after`` seconds when the provider says
    │   ├── ProviderRejected            a 4xx other than 429 (bad key, bad request): no retry
    │   ├── ProviderTimeout             no answer before the deadline
    │   ├── MalformedResponse           the answer does not follow the provider's protocol
    │   └── NoProviderAvailable         every provider failed or is cut off by its breaker
    ├── PlatformError                   a chat platform (Discord) refused or failed
    ├── StoreError                      something about stored data
    │   ├── StoreUnavailable            the database cannot be reached: try again when it is back
    │   ├── SecretKeyError              no key, or no configured key opens a stored secret
    │   └── MigrationError              the database schema could not be brought up to date
    ├── ActorError                      something about one actor
    │   ├── ActorDeadError              the actor is stopped, or stopped while you waited for it
    │   ├── AskTimeout                  no reply within the ask's timeout (also a TimeoutError)
    │   └── MailboxFull                 the mailbox refused the message (REJECT, or tell_nowait
    │                                   under BACKPRESSURE, or your ask was dropped on overflow)
    ├── AsyncioUnavailable              run_asyncio without the root's trio-asyncio loop
    ├── SupervisionError                something about a supervisor
    │   ├── ChildStartError             a child failed while its supervisor was starting it
    │   ├── RestartIntensityExceeded    too many restarts in the window: the supervisor failed
    │   ├── TooManyChildren             a DynamicSupervisor is at its bound
    │   └── UnknownChild                no child with that id or key
    └── McpError                        something about an MCP server or its management
        ├── ServerGone                  the server went away (exited, disconnected, no ping answer)
        ├── ToolCallFailed              the server answered a tool call with an error
        ├── ToolTimeout                 a tool call took longer than its timeout
        ├── ToolUnavailable             the tool's server is down (backing off) or cannot start now
        ├── SourceError                 an install source is malformed, dangerous or not allowed
        ├── InstallError                an installation or its test start failed
        │   └── NeedsAuthorization      the remote server answered 401: OAuth first
        ├── OAuthError                  a step of the OAuth flow failed (names the step)
        │   └── InvalidTransition       a flow was asked to move where its state machine does not go
        └── McpOperationError           a management operation that cannot be done (says why)

Adapters translate the errors of the SDKs they wrap into this tree (the MCP connection:
``raise ServerGone(f"{name}: the process exited") from exc``). An exception that escapes
``on_receive`` is not wrapped: it is the actor's crash, recorded as-is in statistics and dead
letters, and re-raised in the task of the caller whose ask was being handled.
"""

from __future__ import annotations

__all__ = [
    "ActorDeadError",
    "ActorError",
    "AskTimeout",
    "AsyncioUnavailable",
    "ChildStartError",
    "ClaraError",
    "ConfigError",
    "InstallError",
    "InvalidTransition",
    "LlmError",
    "MailboxFull",
    "MalformedResponse",
    "McpError",
    "McpOperationError",
    "MigrationError",
    "NeedsAuthorization",
    "NoProviderAvailable",
    "OAuthError",
    "PlatformError",
    "ProviderRateLimited",
    "ProviderRejected",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RestartIntensityExceeded",
    "SecretKeyError",
    "ServerGone",
    "SourceError",
    "StoreError",
    "StoreUnavailable",
    "SupervisionError",
    "TooManyChildren",
    "ToolCallFailed",
    "ToolTimeout",
    "ToolUnavailable",
    "UnknownChild",
    "describe_error",
]


def describe_error(error: BaseException) -> str:
    """``Type: message`` for an error, naming the cause rather than its wrapping: a group of
    one (trio's nurseries wrap what a task raised) is the error inside it; a larger group
    is each of its errors, joined with "; "."""
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(dict.fromkeys(describe_error(inner) for inner in error.exceptions))
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class ClaraError(Exception):
    """Base of every error Clara raises on purpose."""


class ConfigError(ClaraError):
    """A setting is missing or malformed; the message names it, the expected form and the value."""


class LlmError(ClaraError):
    """A model provider gave no usable answer; ``provider`` names it."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider


class ProviderUnavailable(LlmError):
    """The provider could not be reached, or answered 5xx."""


class ProviderRateLimited(LlmError):
    """The provider answered 429; ``retry_after`` is its hint in seconds, if it gave one."""

    def __init__(self, provider: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(provider, message)
        self.retry_after = retry_after


class ProviderRejected(LlmError):
    """The provider refused the request (4xx other than 429): retrying will not help."""


class ProviderTimeout(LlmError):
    """The provider did not answer before the deadline."""


class MalformedResponse(LlmError):
    """The provider's answer does not follow its protocol."""


class NoProviderAvailable(LlmError):
    """No provider answered; ``reasons`` says why, per provider."""

    def __init__(self, reasons: dict[str, str]) -> None:
        detail = "; ".join(f"{name}: {why}" for name, why in reasons.items()) or "none configured"
        super().__init__("llm", f"no provider answered ({detail})")
        self.reasons = reasons


class PlatformError(ClaraError):
    """A chat platform refused or failed; ``platform`` names it."""

    def __init__(self, platform: str, message: str) -> None:
        super().__init__(f"{platform}: {message}")
        self.platform = platform


class StoreError(ClaraError):
    """Something went wrong with stored data."""


class StoreUnavailable(StoreError):
    """The database cannot be reached, or stopped answering: what was asked of it did not
    happen, and may be asked again once it is back (``Database.health`` says when)."""


class SecretKeyError(StoreError):
    """There is no encryption key, or none of the configured keys opens a stored secret.

    Never answered with a plaintext fallback.
    """


class MigrationError(StoreError):
    """The database schema could not be brought up to date."""


class ActorError(ClaraError):
    """Something went wrong with one actor; ``path`` names it."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class ActorDeadError(ActorError):
    """The actor is stopped (or was stopped while the caller waited for a reply)."""


class AskTimeout(ActorError, TimeoutError):
    """No reply arrived within the ask's timeout."""


class MailboxFull(ActorError):
    """The actor's mailbox refused the message; nothing was delivered."""


class AsyncioUnavailable(ClaraError):
    """``run_asyncio`` was called outside the trio-asyncio loop that the root opens."""


class SupervisionError(ClaraError):
    """Something went wrong in a supervisor; ``path`` names it."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class ChildStartError(SupervisionError):
    """A child raised while its supervisor started it for the first time."""

    def __init__(self, path: str, child_id: str, cause: BaseException) -> None:
        super().__init__(path, f"child {child_id!r} failed to start: {describe_error(cause)}")
        self.child_id = child_id
        self.cause = cause


class RestartIntensityExceeded(SupervisionError):
    """More restarts than ``max_restarts`` within ``max_seconds``: the supervisor gave up.

    Its parent treats this as the supervisor's own crash (escalation). When the root raises it,
    ``run.py`` ends the process with this message and exit code 1.
    """

    def __init__(
        self,
        path: str,
        child_id: str,
        max_restarts: int,
        max_seconds: float,
        cause: BaseException | None,
    ) -> None:
        reason = "exited" if cause is None else f"crashed with {describe_error(cause)}"
        super().__init__(
            path,
            f"child {child_id!r} {reason}; more than {max_restarts} restarts within "
            f"{max_seconds:g}s, so the supervisor failed",
        )
        self.child_id = child_id
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self.cause = cause


class TooManyChildren(SupervisionError):
    """A DynamicSupervisor already holds ``max_children`` children."""


class UnknownChild(SupervisionError, KeyError):
    """No child with that id (or key) exists in the supervisor."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class McpError(ClaraError):
    """Something about an MCP server, a tool call, an installation or an OAuth flow."""


class ServerGone(McpError):
    """The MCP server went away (process exited, connection closed, ping unanswered)."""


class ToolCallFailed(McpError):
    """The server answered a tool call with a protocol error (bad arguments, unknown tool)."""


class ToolTimeout(McpError):
    """A tool call took longer than its timeout."""


class ToolUnavailable(McpError):
    """The server of a tool is down (restarting after a crash) or cannot be started now."""


class SourceError(McpError):
    """A source that is malformed, dangerous or not allowed; the message says which."""


class InstallError(McpError):
    """An installation or its test start failed; the message says where and why."""


class NeedsAuthorization(InstallError):
    """The remote server answered 401: it wants OAuth first."""

    def __init__(self, message: str, www_authenticate: str | None) -> None:
        super().__init__(message)
        self.www_authenticate = www_authenticate


class OAuthError(McpError):
    """A step of the OAuth flow failed; the message names the step and the reason."""


class InvalidTransition(OAuthError):
    """A flow was asked to move where its state machine does not go."""


class McpOperationError(McpError):
    """A management operation that cannot be done; the message says why."""
