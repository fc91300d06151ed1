"""Which backend ``CLARA_SANDBOX_BACKEND`` names, made from the settings.

``auto`` picks what the host has, in this order: the docker backend when an image is set and
the engine at ``CLARA_SANDBOX_DOCKER_URL`` answers; bubblewrap when ``bwrap`` is installed;
else none (the code tools answer that they are off). The choice is logged at start.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from ...adapters.sandbox import (
    BubblewrapBackend,
    DockerBackend,
    RemoteBackend,
    SandboxBackend,
    SandboxError,
)
from ...config import SandboxSettings

__all__ = ["bubblewrap_root", "choose_backend", "engine_answers"]

logger = logging.getLogger(__name__)


def engine_answers(url: str, timeout: float = 5.0) -> bool:
    """Whether a Docker-compatible engine answers at ``url`` (a ping, within ``timeout``)."""
    import docker  # noqa: PLC0415 - only when asked

    try:
        client = docker.DockerClient(base_url=url, timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def bubblewrap_root(scope: str = "clara") -> Path:
    """Where the bubblewrap backend keeps its sandboxes' folders: under the system's temporary
    folder, not Clara's data folder. Run as root, each sandbox runs as a user of its own,
    which must be able to pass through every folder above its work folder; the data folder is
    Clara's alone (0700) and stays so. The root is 0711 (passable, not listable) and each
    work folder 0700, its sandbox user's. A scope of its own (the sandbox service's) gets a
    folder of its own, so neither sweeps the other's."""
    name = "clara-sandboxes" if scope == "clara" else f"clara-{scope}-sandboxes"
    return Path(tempfile.gettempdir()) / f"{name}-{os.getuid()}"


def choose_backend(sandbox: SandboxSettings, *, scope: str = "clara") -> SandboxBackend | None:
    """The backend the settings choose (None: ``none``, or ``auto`` found nothing).

    ``scope`` keeps apart the sandboxes of two users of one engine or host (Clara's own, the
    sandbox service's): each backend's ``sweep`` removes its own scope's only.

    Raises:
        SandboxError: the chosen backend cannot be made (its message says why).
    """
    chosen = sandbox.backend
    if chosen == "auto":
        if sandbox.image and engine_answers(sandbox.docker_url):
            chosen = "docker"
        elif shutil.which("bwrap"):
            chosen = "bubblewrap"
        else:
            logger.warning(
                "sandbox: CLARA_SANDBOX_BACKEND is auto and this host has neither an engine "
                "answering at %s (with CLARA_SANDBOX_IMAGE set) nor bwrap: the code tools are off",
                sandbox.docker_url,
            )
            return None
        logger.info("sandbox: CLARA_SANDBOX_BACKEND is auto; this host has %s", chosen)
    if chosen == "none":
        return None
    try:
        if chosen == "docker":
            return DockerBackend(
                sandbox.docker_url, sandbox.image, runtime=sandbox.runtime or None, scope=scope
            )
        if chosen == "bubblewrap":
            return BubblewrapBackend(bubblewrap_root(scope))
        if chosen == "remote":
            assert sandbox.remote_url is not None and sandbox.remote_key is not None
            return RemoteBackend(
                sandbox.remote_url, sandbox.remote_key.reveal(), timeout=sandbox.timeout + 30.0
            )
    except ValueError as error:
        raise SandboxError(f"the {chosen} sandbox backend cannot start: {error}") from None
    raise SandboxError(f"CLARA_SANDBOX_BACKEND {chosen!r} is not a sandbox backend")
