"""Clara's configuration: the only module that reads the environment.

Settings are frozen msgspec Structs. A bad value fails at start-up with a ``ConfigError`` that
names the variable, the expected form and what was given. (The store, Discord, LLM and other
areas join this module with their own issues.)

| variable | default | meaning |
|---|---|---|
| ``CLARA_LOG_LEVEL`` | ``INFO`` | ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR`` |
| ``CLARA_DEAD_LETTERS`` | ``1000`` | how many recent dead letters are kept for operators |
| ``CLARA_ROOT_MAX_RESTARTS`` | ``3`` | restarts the root allows within ``CLARA_ROOT_MAX_SECONDS`` |
| ``CLARA_ROOT_MAX_SECONDS`` | ``5`` | the root's restart-intensity window, seconds |
| ``CLARA_STATUS_ENABLED`` | ``true`` | serve the status endpoint (``/status``, ``/metrics``, ...) |
| ``CLARA_STATUS_HOST`` | ``127.0.0.1`` | its address; any other than loopback needs a token |
| ``CLARA_STATUS_PORT`` | ``8787`` | its port (``0``: any free port, logged at start) |
| ``CLARA_STATUS_TOKEN`` | (none) | bearer token the endpoint requires (16+ characters) |
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping

import msgspec

from .errors import ConfigError

__all__ = [
    "ConfigError",
    "RuntimeSettings",
    "Secret",
    "Settings",
    "StatusSettings",
    "is_loopback",
    "load_settings",
]

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class Secret(str):
    """A secret setting: a str whose repr and str never show it (``'****'``).

    ``reveal()`` gives the value to the one place that needs it.
    """

    __slots__ = ()

    def reveal(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return "Secret('****')"

    def __str__(self) -> str:
        return "****"

    def __format__(self, format_spec: str) -> str:
        return "****"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class StatusSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The status endpoint's settings."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8787
    token: Secret | None = None

    @property
    def url(self) -> str:
        """Where a client on this machine reaches the endpoint."""
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"


class RuntimeSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The actor runtime's settings."""

    dead_letters: int = 1000
    root_max_restarts: int = 3
    root_max_seconds: float = 5.0


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything Clara is configured with."""

    log_level: str = "INFO"
    runtime: RuntimeSettings = msgspec.field(default_factory=RuntimeSettings)
    status: StatusSettings = msgspec.field(default_factory=StatusSettings)


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be an integer of at least {minimum}; got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be an integer of at least {minimum}; got {raw!r}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive number of seconds; got {raw!r}")
    return value


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false (or 1/0, yes/no, on/off); got {raw!r}")


def _status(env: Mapping[str, str]) -> StatusSettings:
    enabled = _bool(env, "CLARA_STATUS_ENABLED", True)
    host = env.get("CLARA_STATUS_HOST", "").strip() or "127.0.0.1"
    if any(char.isspace() or char in "/?#@" for char in host):
        raise ConfigError(f"CLARA_STATUS_HOST must be a host name or an IP address; got {host!r}")
    port = _int(env, "CLARA_STATUS_PORT", 8787, 0)
    if port > 65535:
        raise ConfigError(f"CLARA_STATUS_PORT must be a port from 0 to 65535; got {port!r}")
    raw_token = env.get("CLARA_STATUS_TOKEN", "").strip()
    token = Secret(raw_token) if raw_token else None
    if token is not None and len(raw_token) < 16:
        raise ConfigError(
            "CLARA_STATUS_TOKEN must be at least 16 characters; "
            f"got one of {len(raw_token)} (value not shown)"
        )
    if enabled and token is None and not is_loopback(host):
        raise ConfigError(
            f"CLARA_STATUS_HOST is {host!r}, which is not a loopback address: anyone who can "
            "reach it could read the tree. Set CLARA_STATUS_TOKEN (a bearer token of 16+ "
            "characters), or bind to 127.0.0.1"
        )
    return StatusSettings(enabled=enabled, host=host, port=port, token=token)


def load_settings(env: Mapping[str, str]) -> Settings:
    """Read and validate Clara's settings from ``env`` (normally ``os.environ``).

    Raises:
        ConfigError: a variable is malformed; the message names it, the expected form and
            the value given.
    """
    level = env.get("CLARA_LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if level not in _LOG_LEVELS:
        raise ConfigError(
            f"CLARA_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}; "
            f"got {env.get('CLARA_LOG_LEVEL')!r}"
        )
    runtime = RuntimeSettings(
        dead_letters=_int(env, "CLARA_DEAD_LETTERS", 1000, 1),
        root_max_restarts=_int(env, "CLARA_ROOT_MAX_RESTARTS", 3, 0),
        root_max_seconds=_seconds(env, "CLARA_ROOT_MAX_SECONDS", 5.0),
    )
    return Settings(log_level=level, runtime=runtime, status=_status(env))
