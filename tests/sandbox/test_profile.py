"""The one hardening profile: what it holds, how it renders, and that both renderings work."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from clara.adapters.mcp import Installer, parse_source
from clara.adapters.sandbox import (
    DEFAULT_IMAGE,
    HardeningProfile,
    SandboxLimits,
    cli_flags,
    docker_kwargs,
    mcp_profile,
    sandbox_profile,
)
from tests.helpers import require

LIMITS = SandboxLimits(memory_mb=300, cpus=0.5, pids=50, work_mb=20)


def test_a_sandbox_profile_locks_everything_down_for_the_sdk() -> None:
    kwargs = docker_kwargs(sandbox_profile(LIMITS))
    assert kwargs == {
        "network_mode": "none",
        "mem_limit": "300m",
        "memswap_limit": "300m",
        "pids_limit": 50,
        "nano_cpus": 500_000_000,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "init": True,
        "environment": {},
        "read_only": True,
        "user": "65534:65534",
        "working_dir": "/work",
        "tmpfs": {
            "/work": "rw,nosuid,nodev,size=20m,mode=1777",
            "/tmp": "rw,nosuid,nodev,size=16m,mode=1777",
        },
        "ulimits": [
            {"name": "nofile", "soft": 1024, "hard": 1024},
            {"name": "nproc", "soft": 4096, "hard": 4096},
        ],
    }
    assert "network_disabled" not in kwargs  # podman's API ignores it


def test_the_network_and_runtime_are_the_operators_choice() -> None:
    networked = sandbox_profile(SandboxLimits(network=True), network="proxied", runtime="runsc")
    kwargs = docker_kwargs(networked)
    assert (kwargs["network_mode"], kwargs["runtime"]) == ("proxied", "runsc")
    flags = cli_flags(networked)
    assert flags[flags.index("--network") + 1] == "proxied"
    assert flags[flags.index("--runtime") + 1] == "runsc"


def test_the_mcp_profile_shares_the_core_and_keeps_the_images_user_and_root() -> None:
    flags = cli_flags(mcp_profile("none"))
    assert flags == [
        "--init",
        "--network",
        "none",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--memory",
        "512m",
        "--memory-swap",
        "512m",
        "--pids-limit",
        "256",
    ]


@pytest.mark.trio
async def test_the_mcp_installer_runs_image_sources_with_the_profiles_flags(
    tmp_path: Path,
) -> None:
    # `true` stands in for the engine: its `image inspect` succeeds, so nothing is pulled.
    installer = Installer(tmp_path, container_engine="true", container_network="mcpnet")
    endpoint, folder = await installer.install("boxed", parse_source("image:localhost/some:1"))
    assert folder is None
    assert endpoint.command == "true"
    flags = cli_flags(mcp_profile("mcpnet"))
    assert list(endpoint.args) == ["run", "-i", "--rm", *flags, "localhost/some:1"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"network": ""}, "network"),
        ({"network": "a b"}, "network"),
        ({"memory_mb": 0}, "memory_mb"),
        ({"pids": -1}, "pids"),
        ({"cpus": 0.0}, "cpus"),
        ({"nofile": 10}, "nofile and nproc"),
        ({"work_dir": "work"}, "work_dir"),
    ],
)
def test_a_bad_profile_names_the_field(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HardeningProfile(**fields)  # type: ignore[arg-type]


def test_the_cli_rendering_runs_a_locked_container_for_real() -> None:
    require(shutil.which("podman"), "podman")
    found = subprocess.run(["podman", "image", "exists", DEFAULT_IMAGE], check=False)
    require(found.returncode == 0 or shutil.which("debootstrap"), "debootstrap")
    from clara.adapters.sandbox import ensure_image  # noqa: PLC0415

    ensure_image(DEFAULT_IMAGE)
    script = (
        "id -u; cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '; "
        "touch /etc/x 2>/dev/null || echo ro; touch /work/x && echo work; "
        "grep CapEff /proc/self/status; grep NoNewPrivs /proc/self/status"
    )
    ran = subprocess.run(
        [
            "podman",
            "run",
            "--rm",
            *cli_flags(sandbox_profile(LIMITS)),
            DEFAULT_IMAGE,
            "sh",
            "-c",
            script,
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.decode().split("\n")
    assert lines[:4] == ["65534", "lo", "ro", "work"], lines
    assert lines[4].split() == ["CapEff:", "0000000000000000"]
    assert lines[5].split() == ["NoNewPrivs:", "1"]
