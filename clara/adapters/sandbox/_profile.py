"""The one hardening profile every container Clara starts runs under.

Two things start containers: the docker sandbox backend (through the docker SDK) and the MCP
installer's image sources (through the ``podman`` / ``docker`` CLI). Both take their flags from
a ``HardeningProfile``, rendered by ``docker_kwargs`` (keyword arguments for the SDK's
``containers.create``) or ``cli_flags`` (argv for ``podman run`` / ``docker run``), so a flag
added here reaches both.

What every profile holds, whoever asks:

- no network unless a network is named (``network_mode="none"``: podman's API ignores
  ``network_disabled``, so that flag is never relied on);
- a memory limit with swap equal to it (no swap beyond the limit), and a pids limit (a fork
  bomb stops there);
- every capability dropped and ``no-new-privileges`` (a setuid binary gains nothing);
- an init process as PID 1 (without one, orphaned zombies are never reaped and use up the pids
  limit);
- no environment from the host (the SDK passes none; the CLI passes only what is named).

Where the two users differ, the difference is a field, not a second copy of the flags:
``sandbox_profile`` adds a read-only root with size-limited tmpfs ``/work`` and ``/tmp``, a
non-root user, a CPU quota and lowered ulimits; ``mcp_profile`` keeps the image's own user and
a writable root (MCP servers are third-party programs that write where their image expects)
and joins the network the operator configured for them (``CLARA_MCP_CONTAINER_NETWORK``).
"""

from __future__ import annotations

import msgspec

from ._types import SandboxLimits

__all__ = [
    "SANDBOX_USER",
    "WORK_DIR",
    "HardeningProfile",
    "cli_flags",
    "docker_kwargs",
    "mcp_profile",
    "sandbox_profile",
]

WORK_DIR = "/work"
"""The sandbox's only writable folder that lasts between runs (the person's files)."""

SANDBOX_USER = "65534:65534"
"""``nobody:nogroup``: no home, no privileges, no files of its own on the read-only root."""


class HardeningProfile(msgspec.Struct, frozen=True, kw_only=True):
    """The flags one container runs under. Fields at None leave the engine's default."""

    network: str = "none"
    """``none`` (no interface but loopback) or the name of a network to join."""
    memory_mb: int = 512
    """Memory limit; swap is limited to the same figure (so no swap beyond it)."""
    pids: int = 128
    """Processes and threads at once."""
    cpus: float | None = None
    """CPU quota in cores (``nano_cpus`` / ``--cpus``)."""
    read_only: bool = False
    """A read-only root filesystem; writable places are the tmpfs mounts below."""
    user: str | None = None
    """``uid:gid`` to run as; None keeps the image's user."""
    work_dir: str | None = None
    """A tmpfs mounted here (the working directory), ``work_mb`` in size."""
    work_mb: int = 256
    tmp_mb: int | None = None
    """A tmpfs on ``/tmp`` of this size (a read-only root needs one for most programs)."""
    nofile: int | None = None
    """Open files per process (soft = hard)."""
    nproc: int | None = None
    """Processes per user id (soft = hard). It counts every process of that uid on the host,
    across containers, so it is set well above ``pids`` (the per-container limit); podman
    refuses to start a container whose ``nofile`` is set without it."""
    runtime: str | None = None
    """An OCI runtime by name (``runsc`` for gVisor) where the operator asks for one."""

    def __post_init__(self) -> None:
        if not self.network or any(c.isspace() for c in self.network):
            raise ValueError(f"network: a network name or 'none', got {self.network!r}")
        for field in ("memory_mb", "pids", "work_mb"):
            value = getattr(self, field)
            if value < 1:
                raise ValueError(f"{field}: a positive whole number, got {value!r}")
        if self.cpus is not None and not self.cpus > 0:
            raise ValueError(f"cpus: a positive number of cores, got {self.cpus!r}")
        if (self.nofile is None) != (self.nproc is None):
            raise ValueError("nofile and nproc: set both or neither (podman needs both)")
        if self.work_dir is not None and not self.work_dir.startswith("/"):
            raise ValueError(f"work_dir: an absolute path, got {self.work_dir!r}")


def sandbox_profile(
    limits: SandboxLimits, *, runtime: str | None = None, network: str = "bridge"
) -> HardeningProfile:
    """The profile of a person's sandbox: everything locked, ``limits`` applied.

    Args:
        limits: the sandbox's memory, CPU, pids and work-directory size.
        runtime: an OCI runtime (``runsc``) or None for the engine's default.
        network: the network joined when ``limits.network`` is on (an operator's choice).
    """
    pids, nproc = limits.pids, 4096
    if runtime == "runsc":
        # gVisor: the host's pids limit counts its own kernel's threads (~50) and ~5 host tasks
        # per sandboxed process, and reaching it crashes the whole sandbox; its RLIMIT_NPROC
        # counts only the sandbox's processes, so that is where the limit is put.
        pids, nproc = 128 + 8 * limits.pids, limits.pids
    return HardeningProfile(
        network=network if limits.network else "none",
        memory_mb=limits.memory_mb,
        pids=pids,
        cpus=limits.cpus,
        read_only=True,
        user=SANDBOX_USER,
        work_dir=WORK_DIR,
        work_mb=limits.work_mb,
        tmp_mb=16,
        nofile=1024,
        nproc=nproc,
        runtime=runtime,
    )


def mcp_profile(network: str = "none") -> HardeningProfile:
    """The profile of an MCP server run from an image (see the module's docstring for why it
    keeps the image's user and a writable root)."""
    return HardeningProfile(network=network, memory_mb=512, pids=256)


def _tmpfs(profile: HardeningProfile) -> dict[str, str]:
    mounts: dict[str, str] = {}
    if profile.work_dir is not None:
        # mode 1777 rather than uid=: podman refuses tmpfs uid/gid options; the sandbox's one
        # user owns everything it writes there all the same.
        mounts[profile.work_dir] = f"rw,nosuid,nodev,size={profile.work_mb}m,mode=1777"
    if profile.tmp_mb is not None:
        mounts["/tmp"] = f"rw,nosuid,nodev,size={profile.tmp_mb}m,mode=1777"
    return mounts


def docker_kwargs(profile: HardeningProfile) -> dict[str, object]:
    """Keyword arguments for the docker SDK's ``containers.create`` / ``containers.run``."""
    memory = f"{profile.memory_mb}m"
    kwargs: dict[str, object] = {
        "network_mode": profile.network,
        "mem_limit": memory,
        "memswap_limit": memory,
        "pids_limit": profile.pids,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "init": True,
        "environment": {},
        "read_only": profile.read_only,
    }
    if profile.cpus is not None:
        kwargs["nano_cpus"] = int(profile.cpus * 1_000_000_000)
    if profile.user is not None:
        kwargs["user"] = profile.user
    tmpfs = _tmpfs(profile)
    if tmpfs:
        kwargs["tmpfs"] = tmpfs
    if profile.work_dir is not None:
        kwargs["working_dir"] = profile.work_dir
    if profile.nofile is not None and profile.nproc is not None:
        kwargs["ulimits"] = [
            {"name": "nofile", "soft": profile.nofile, "hard": profile.nofile},
            {"name": "nproc", "soft": profile.nproc, "hard": profile.nproc},
        ]
    if profile.runtime is not None:
        kwargs["runtime"] = profile.runtime
    return kwargs


def cli_flags(profile: HardeningProfile) -> list[str]:
    """Flags for ``podman run`` / ``docker run`` (between ``run`` and the image)."""
    memory = f"{profile.memory_mb}m"
    flags = [
        "--init",
        "--network",
        profile.network,
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--memory",
        memory,
        "--memory-swap",
        memory,
        "--pids-limit",
        str(profile.pids),
    ]
    if profile.cpus is not None:
        flags += ["--cpus", f"{profile.cpus:g}"]
    if profile.read_only:
        flags.append("--read-only")
    if profile.user is not None:
        flags += ["--user", profile.user]
    for path, options in _tmpfs(profile).items():
        flags += ["--tmpfs", f"{path}:{options}"]
    if profile.work_dir is not None:
        flags += ["--workdir", profile.work_dir]
    if profile.nofile is not None and profile.nproc is not None:
        flags += ["--ulimit", f"nofile={profile.nofile}:{profile.nofile}"]
        flags += ["--ulimit", f"nproc={profile.nproc}:{profile.nproc}"]
    if profile.runtime is not None:
        flags += ["--runtime", profile.runtime]
    return flags
