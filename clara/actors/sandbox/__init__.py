"""Code sandboxes: one actor per person's sandbox, the model's tools, ``/sandbox``.

``/clara/sandbox`` is a supervisor with two children: ``backend`` (closes the backend's
connections when the subtree stops) and ``sandboxes``, a DynamicSupervisor of
``SandboxActor`` keyed by ``platform:user id``: started on a person's first code tool call,
passivated after ``CLARA_SANDBOX_IDLE_SECONDS`` unused (which removes the sandbox and its
files), at most ``CLARA_SANDBOX_MAX_RUNNING`` at once.

``SandboxTools`` is what the tool loop sees for one reply (``sandbox__run_python`` and the
rest), to the sandbox of the person being answered; ``SandboxAdmin`` runs ``/sandbox``.
Every run is audited in ``sandbox_runs``; each server's choices (who may run code, whether
sandboxes have a network) are ``sandbox_server_settings`` rows, cached by
``SandboxPolicies``. docs/sandbox.md tells the whole design.

Modules: ``messages`` (what the actor is asked), ``actor`` (one person's sandbox),
``tools`` (the model's tools), ``policies`` (servers' choices), ``admin`` (``/sandbox``),
``subsystem`` (the ``sandbox`` subtree).
"""

from .actor import SandboxActor, SandboxOptions, why
from .admin import OPERATIONS, SandboxAdmin
from .backends import bubblewrap_root, choose_backend, engine_answers
from .messages import (
    Execute,
    FetchedFile,
    ListFiles,
    PutFiles,
    ReadFile,
    SandboxReply,
    Usage,
    UsageReport,
)
from .policies import SandboxPolicies, refusal
from .subsystem import SandboxSystem, http_download, sandbox_subsystem
from .tools import MAX_FILES, TOOLS, SandboxOff, SandboxTools, ToolSettings, package_refusal

__all__ = [
    "MAX_FILES",
    "OPERATIONS",
    "TOOLS",
    "Execute",
    "FetchedFile",
    "ListFiles",
    "PutFiles",
    "ReadFile",
    "SandboxActor",
    "SandboxAdmin",
    "SandboxOff",
    "SandboxOptions",
    "SandboxPolicies",
    "SandboxReply",
    "SandboxSystem",
    "SandboxTools",
    "ToolSettings",
    "Usage",
    "UsageReport",
    "bubblewrap_root",
    "choose_backend",
    "engine_answers",
    "http_download",
    "package_refusal",
    "refusal",
    "sandbox_subsystem",
    "why",
]
