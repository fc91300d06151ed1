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
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import msgspec

from .errors import ConfigError

__all__ = ["ConfigError", "RuntimeSettings", "Settings", "load_settings"]

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class RuntimeSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The actor runtime's settings."""

    dead_letters: int = 1000
    root_max_restarts: int = 3
    root_max_seconds: float = 5.0


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything Clara is configured with."""

    log_level: str = "INFO"
    runtime: RuntimeSettings = msgspec.field(default_factory=RuntimeSettings)


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
    return Settings(log_level=level, runtime=runtime)
