"""Sandboxes for people's code: one Protocol, several backends (docs/sandbox.md)."""

from ._bubblewrap import BubblewrapBackend
from ._docker import DockerBackend
from ._image import DEFAULT_IMAGE, ensure_image
from ._profile import (
    SANDBOX_USER,
    WORK_DIR,
    HardeningProfile,
    cli_flags,
    docker_kwargs,
    mcp_profile,
    sandbox_profile,
)
from ._remote import RemoteBackend
from ._types import (
    ExecResult,
    SandboxBackend,
    SandboxBusy,
    SandboxError,
    SandboxFile,
    SandboxGone,
    SandboxHandle,
    SandboxLimits,
    SandboxQuotaExceeded,
    SandboxUnavailable,
)

__all__ = [
    "DEFAULT_IMAGE",
    "SANDBOX_USER",
    "WORK_DIR",
    "BubblewrapBackend",
    "DockerBackend",
    "ExecResult",
    "HardeningProfile",
    "RemoteBackend",
    "SandboxBackend",
    "SandboxBusy",
    "SandboxError",
    "SandboxFile",
    "SandboxGone",
    "SandboxHandle",
    "SandboxLimits",
    "SandboxQuotaExceeded",
    "SandboxUnavailable",
    "cli_flags",
    "docker_kwargs",
    "ensure_image",
    "mcp_profile",
    "sandbox_profile",
]
