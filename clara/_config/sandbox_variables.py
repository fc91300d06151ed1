"""The code sandboxes' variables (``CLARA_SANDBOX_*``, docs/sandbox.md): the backend and its
engine, each sandbox's limits, package installs, the remote sandbox service."""

from __future__ import annotations

import math
import re

from ..errors import ConfigError
from .addresses import host, url
from .tokens import secret, token_list
from .values import Parser, choice, integer, shown, text, text_list
from .var import SECONDS, Var

__all__ = ["SANDBOX_VARIABLES"]

_SECONDS = SECONDS
_DECIMAL = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def _cpus_value(name: str, raw: str) -> float:
    """A number of CPU cores in ASCII decimals (a fraction is a share of one core)."""
    value = raw.strip()
    number = float(value) if _DECIMAL.fullmatch(value) else math.nan
    if not math.isfinite(number) or not 0.05 <= number <= 64:
        raise ConfigError(f"{name} must be a number of cores from 0.05 to 64; got {shown(value)}")
    return number


# Of the kind "seconds": a positive decimal number, fuzzed with the same bad values.
_cpus = Parser("seconds", _cpus_value)


SANDBOX_VARIABLES: tuple[Var, ...] = (
    Var(
        "CLARA_SANDBOX_BACKEND",
        "sandbox",
        "backend",
        choice("none", "auto", "docker", "bubblewrap", "remote"),
        "where people's code runs: none (no code tools), auto (docker if an engine answers, "
        "else bubblewrap; said at start), docker (a Docker-compatible engine), bubblewrap, "
        "remote (a clara sandbox-server)",
        "none",
    ),
    Var(
        "CLARA_SANDBOX_DOCKER_URL",
        "sandbox",
        "docker_url",
        url("unix", "tcp", "http"),
        "the engine's API (docker or podman)",
        "unix:///var/run/docker.sock",
    ),
    Var(
        "CLARA_SANDBOX_IMAGE",
        "sandbox",
        "image",
        text,
        "the sandbox image; required with the docker backend",
    ),
    Var(
        "CLARA_SANDBOX_TIMEOUT",
        "sandbox",
        "timeout",
        _SECONDS,
        "seconds one run may take before it is killed",
        "30",
    ),
    Var(
        "CLARA_SANDBOX_MEMORY_MB",
        "sandbox",
        "memory_mb",
        integer(16),
        "memory limit of a sandbox, in MiB",
        "512",
    ),
    Var(
        "CLARA_SANDBOX_IDLE_SECONDS",
        "sandbox",
        "idle_seconds",
        _SECONDS,
        "an idle sandbox is removed after this long",
        "600",
    ),
    Var("CLARA_SANDBOX_CPUS", "sandbox", "cpus", _cpus, "CPU limit of a sandbox, in cores", "1"),
    Var(
        "CLARA_SANDBOX_PIDS",
        "sandbox",
        "pids",
        integer(16, 32768),
        "processes and threads a sandbox may have at once (a fork bomb stops there)",
        "128",
    ),
    Var(
        "CLARA_SANDBOX_WORK_MB",
        "sandbox",
        "work_mb",
        integer(1, 1_000_000),
        "each person's storage quota: the size of their sandbox's /work, in MiB",
        "256",
    ),
    Var(
        "CLARA_SANDBOX_MAX_RUNNING",
        "sandbox",
        "max_running",
        integer(1, 10_000),
        "sandboxes running at once; beyond it an idle one is removed, or the model is told "
        "all are busy",
        "20",
    ),
    Var(
        "CLARA_SANDBOX_OUTPUT_KB",
        "sandbox",
        "output_kb",
        integer(1, 65_536),
        "output kept of one run, per stream, in KiB (the rest is dropped, with a note)",
        "64",
    ),
    Var(
        "CLARA_SANDBOX_RUNTIME",
        "sandbox",
        "runtime",
        text,
        "an OCI runtime for the docker backend (runsc: gVisor); empty: the engine's default",
    ),
    Var(
        "CLARA_SANDBOX_SCOPE",
        "sandbox",
        "scope",
        text,
        "this Clara's name on its sandboxes; at start it removes what its scope left "
        "(a crash): give each Clara sharing one engine its own",
        "clara",
    ),
    Var(
        "CLARA_SANDBOX_PROXY_URL",
        "sandbox",
        "proxy_url",
        url("http", "https"),
        "the allow-listing proxy package installs go through (only on servers where "
        "/sandbox network is on); unset: installs are off",
    ),
    Var(
        "CLARA_SANDBOX_PACKAGES",
        "sandbox",
        "packages",
        text_list,
        "comma-separated package names install_package accepts; empty: any name",
    ),
    Var(
        "CLARA_SANDBOX_INDEX_URL",
        "sandbox",
        "index_url",
        url("https", "http", loopback_only=("http",)),
        "the package index install_package uses, reached through the proxy (PEP 503 "
        "simple API, e.g. a mirror); unset: pip's default, PyPI",
    ),
    Var(
        "CLARA_SANDBOX_REMOTE_URL",
        "sandbox",
        "remote_url",
        url("https", "http", loopback_only=("http",)),
        "the sandbox service the remote backend uses (a clara sandbox-server)",
    ),
    Var(
        "CLARA_SANDBOX_REMOTE_KEY",
        "sandbox",
        "remote_key",
        secret(16),
        "the API key of CLARA_SANDBOX_REMOTE_URL",
    ),
    Var(
        "CLARA_SANDBOX_SERVER_HOST",
        "sandbox",
        "server_host",
        host,
        "the address python -m clara sandbox-server listens on",
        "127.0.0.1",
    ),
    Var(
        "CLARA_SANDBOX_SERVER_PORT",
        "sandbox",
        "server_port",
        integer(1, 65535),
        "the port python -m clara sandbox-server listens on",
        "8765",
    ),
    Var(
        "CLARA_SANDBOX_SERVER_KEY",
        "sandbox",
        "server_keys",
        token_list(16),
        "the API keys python -m clara sandbox-server accepts, comma-separated, 16+ characters "
        "each: one per Clara process (each sweeps its key's sandboxes at start)",
    ),
    Var(
        "CLARA_SANDBOX_OPS_PER_MINUTE",
        "sandbox",
        "ops_per_minute",
        integer(1, 1000),
        "/sandbox commands one person may run a minute",
        "10",
    ),
)
