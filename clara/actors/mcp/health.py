"""What each MCP server has been through since Clara started, kept across its restarts.

A server's actor is built afresh for every incarnation (after a crash, after passivation,
after ``/mcp restart``), so whatever it counted in its own attributes started again at zero
each time: after ten crashes and hundreds of failed calls, ``/mcp status`` said "1 calls,
0 failed". The totals live here instead: one ``ServerHealth`` per server name, in the
``McpHealth`` that the catalog (``McpCatalog.health``) owns. Every incarnation of a server's
actor adds its calls and its crash to the same record, the tools the model calls count the
calls refused while the server was down, and ``/mcp status`` and the status page read it.

``/mcp restart`` keeps a server's record (the history is what an operator wants to see
after a bad hour); uninstalling the server forgets it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["McpHealth", "ServerHealth"]

#: How much of the last failure's text the status details keep (it ends with stderr lines).
_FAILURE_TEXT = 400


class ServerHealth:
    """One server's totals since Clara started (or since it was installed).

    Attributes:
        calls: tool calls its actor served (answered or not).
        failed: calls that got no answer from the server: it could not be started, the
            connection was lost, or it answered with a protocol error.
        timed_out: calls that took longer than their time limit.
        refused: calls refused at once because the server was down (backing off after a
            crash, or failed); the server never saw them.
        crashes: incarnations of its actor that ended in a crash (each is followed by a
            restart with backoff).
        last_failure: what the last crash said (exit code or signal, stderr tail), or None.
        last_failure_at: trio's clock at that crash.
    """

    __slots__ = (
        "calls",
        "crashes",
        "failed",
        "last_failure",
        "last_failure_at",
        "refused",
        "timed_out",
    )

    def __init__(self) -> None:
        self.calls = 0
        self.failed = 0
        self.timed_out = 0
        self.refused = 0
        self.crashes = 0
        self.last_failure: str | None = None
        self.last_failure_at: float | None = None

    def crashed(self, error: BaseException, at: float) -> None:
        """An incarnation of the server's actor crashes with ``error`` (at trio time ``at``)."""
        self.crashes += 1
        self.last_failure = str(error) or type(error).__name__
        self.last_failure_at = at

    @property
    def eventful(self) -> bool:
        """Whether anything happened worth showing."""
        return bool(self.calls or self.refused or self.crashes)

    def summary(self) -> str:
        """The totals in words: ``12 calls (3 failed, 1 timed out), 40 refused while down,
        10 crashes``."""
        problems = []
        if self.failed:
            problems.append(f"{self.failed} failed")
        if self.timed_out:
            problems.append(f"{self.timed_out} timed out")
        text = f"{_count(self.calls, 'call')}"
        if problems:
            text += f" ({', '.join(problems)})"
        if self.refused:
            text += f", {self.refused} refused while down"
        return text + f", {_count(self.crashes, 'crash', 'crashes')}"

    def failure_summary(self, now: float) -> str | None:
        """``last failure 12s ago: …``, or None when it never failed."""
        if self.last_failure is None or self.last_failure_at is None:
            return None
        ago = max(0.0, now - self.last_failure_at)
        return f"last failure {_ago(ago)}: {self.last_failure[:_FAILURE_TEXT]}"

    def totals(self) -> dict[str, int]:
        """The counters, as the status endpoint shows them."""
        return {
            "calls": self.calls,
            "failed": self.failed,
            "timed_out": self.timed_out,
            "refused_while_down": self.refused,
            "crashes": self.crashes,
        }

    def describe(self, now: float) -> dict[str, Any]:
        """The totals for the status endpoint (JSON), with the last failure's text and age."""
        details: dict[str, Any] = dict(self.totals())
        if self.last_failure is not None and self.last_failure_at is not None:
            details["last_failure"] = self.last_failure[:_FAILURE_TEXT]
            details["last_failure_seconds_ago"] = round(max(0.0, now - self.last_failure_at), 1)
        return details


class McpHealth:
    """Every configured server's ``ServerHealth``, by name; owned by the catalog.

    Records are made on first use and forgotten when their server is uninstalled, so there
    are never more of them than servers that were installed while Clara ran.
    """

    def __init__(self) -> None:
        self._servers: dict[str, ServerHealth] = {}

    def of(self, name: str) -> ServerHealth:
        """The record of server ``name``, made now if it has none yet."""
        record = self._servers.get(name)
        if record is None:
            record = self._servers[name] = ServerHealth()
        return record

    def get(self, name: str) -> ServerHealth | None:
        """The record of server ``name``, or None (never makes one)."""
        return self._servers.get(name)

    def forget(self, name: str) -> None:
        """Drop the record of an uninstalled server."""
        self._servers.pop(name, None)

    def describe(self, now: float) -> list[dict[str, Any]]:
        """Each server with something to show, by name, for the catalog's status details."""
        return [
            {"name": name, **record.describe(now)}
            for name, record in sorted(self._servers.items())
            if record.eventful
        ]


def _count(number: int, one: str, many: str | None = None) -> str:
    return f"{number} {one if number == 1 else (many or one + 's')}"


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"
