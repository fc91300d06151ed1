"""``python -m clara sandbox-server``: a sandbox backend served over HTTP to holders of an
API key, for Clara processes on hosts without a container engine (docs/sandbox-remote.md).
The ``remote`` backend (``clara.adapters.sandbox.RemoteBackend``) is its client."""

from ._app import MIN_KEY_LENGTH, SandboxService
from ._serve import serve_sandboxes

__all__ = ["MIN_KEY_LENGTH", "SandboxService", "serve_sandboxes"]
