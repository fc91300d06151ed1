"""What the sandbox service and the ``remote`` backend say to each other: JSON bodies.

One definition for both ends, so the client and the server cannot drift apart. Bytes travel
as base64 strings (msgspec's JSON encoding of ``bytes``). Every error is ``ErrorReply``: one
line for a person, a ``kind`` the client maps back to the Protocol's error of that kind
(``gone`` with its ``reason``, ``quota``, ``busy``, ``unavailable``, ...).

The routes, all under ``/v1`` (``docs/sandbox-remote.md``):

==========  ==================================  =========================================
method      path                                body → answer
==========  ==================================  =========================================
POST        /v1/sandboxes                       ``CreateRequest`` → ``HandleReply`` (201)
DELETE      /v1/sandboxes                       → ``SweepReply`` (all of the key's sandboxes)
GET         /v1/sandboxes/{id}                  → ``AliveReply``
DELETE      /v1/sandboxes/{id}                  → 204
POST        /v1/sandboxes/{id}/execute          ``ExecuteRequest`` → ``ExecResult``
POST        /v1/sandboxes/{id}/files/put        ``PutFileRequest`` → 204
POST        /v1/sandboxes/{id}/files/get        ``GetFileRequest`` → ``FileReply``
POST        /v1/sandboxes/{id}/files/list       ``ListFilesRequest`` → ``ListFilesReply``
GET         /v1/health                          → ``HealthReply`` (no key needed)
==========  ==================================  =========================================
"""

from __future__ import annotations

import msgspec

from .._types import SandboxFile, SandboxLimits

__all__ = [
    "AliveReply",
    "CreateRequest",
    "ErrorReply",
    "ExecuteRequest",
    "FileReply",
    "GetFileRequest",
    "HandleReply",
    "HealthReply",
    "ListFilesReply",
    "ListFilesRequest",
    "PutFileRequest",
    "SweepReply",
]


class CreateRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    owner: str
    """Whose sandbox (the service keeps owners of different keys apart)."""
    limits: SandboxLimits


class HandleReply(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    """The service's own id for the sandbox: random, and valid only with the key that made it."""
    name: str


class AliveReply(msgspec.Struct, frozen=True, kw_only=True):
    reason: str | None
    """None while it runs; else why it does not."""


class ExecuteRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    argv: list[str]
    stdin: bytes | None = None
    timeout: float
    output_limit: int


class PutFileRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    path: str
    data: bytes


class GetFileRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    path: str
    max_bytes: int


class FileReply(msgspec.Struct, frozen=True, kw_only=True):
    data: bytes


class ListFilesRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    path: str = "."


class ListFilesReply(msgspec.Struct, frozen=True, kw_only=True):
    files: list[SandboxFile]


class SweepReply(msgspec.Struct, frozen=True, kw_only=True):
    removed: int
    """How many of the key's sandboxes were removed."""


class HealthReply(msgspec.Struct, frozen=True, kw_only=True):
    backend: str
    sandboxes: int
    capacity: int


class ErrorReply(msgspec.Struct, frozen=True, kw_only=True):
    error: str
    """One line for a person; never a secret, never a traceback."""
    kind: str = "error"
    """``auth``, ``bad_request``, ``not_found``, ``gone``, ``quota``, ``too_large``, ``busy``,
    ``unavailable``, ``error``."""
    reason: str | None = None
    """For ``gone``: why the sandbox does not run (``oom``, ``removed``, ``exited 137``)."""
