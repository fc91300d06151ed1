"""What a person's ``SandboxActor`` is asked, and what it answers.

Every request carries ``network``: whether the server the person is asking from lets
sandboxes have a network (``/sandbox network``). A sandbox made without one is never given
one later, nor the other way round: it is made again (its files lost, the person told).
"""

from __future__ import annotations

import msgspec

from ...adapters.sandbox import ExecResult, SandboxFile

__all__ = [
    "Execute",
    "FetchedFile",
    "ListFiles",
    "PutFiles",
    "ReadFile",
    "SandboxReply",
    "Usage",
    "UsageReport",
]


class Execute(msgspec.Struct, frozen=True, kw_only=True):
    """Ask: run ``argv`` (the program reads ``stdin``), then fetch ``fetch`` back.

    Audited: a ``sandbox_runs`` row is written before it starts and finished after.
    """

    tool: str
    argv: tuple[str, ...]
    stdin: bytes | None = None
    code_hash: str
    """SHA-256 of what the person's code or command was (hex)."""
    channel_id: str = ""
    guild_id: str | None = None
    timeout: float | None = None
    """None: the sandbox's own limit (``CLARA_SANDBOX_TIMEOUT``); at most that."""
    fetch: tuple[str, ...] = ()
    """Files (under /work) to return after the run."""
    network: bool = False


class PutFiles(msgspec.Struct, frozen=True, kw_only=True):
    """Ask: write each (path, data) under /work."""

    files: tuple[tuple[str, bytes], ...]
    network: bool = False


class ReadFile(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    max_bytes: int
    network: bool = False


class ListFiles(msgspec.Struct, frozen=True, kw_only=True):
    path: str = "."
    network: bool = False


class Usage(msgspec.Struct, frozen=True):
    """Ask: how the sandbox is doing, without making one (``/sandbox status``)."""


class FetchedFile(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    data: bytes | None = None
    error: str | None = None


class SandboxReply(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to every request but ``Usage``."""

    notes: tuple[str, ...] = ()
    """What happened to the sandbox on the way (made again, and why), for the person."""
    error: str | None = None
    """Why the request failed, in words for the person (None: it did not)."""
    result: ExecResult | None = None
    files: tuple[FetchedFile, ...] = ()
    data: bytes | None = None
    listing: tuple[SandboxFile, ...] = ()
    written: tuple[str, ...] = ()


class UsageReport(msgspec.Struct, frozen=True, kw_only=True):
    state: str
    runs: int
    """Runs of this incarnation (the store has them all)."""
    used_bytes: int | None
    """What its files take; None without a sandbox (or when it could not be read)."""
    files: int | None
    network: bool
