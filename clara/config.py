"""Clara's configuration: the only module that reads the environment.

Settings are frozen msgspec Structs, one per area (runtime, logging, status, database,
encryption, discord, llm, memory, mcp, email, sandbox, proactive), read from the
environment over an optional ``.env`` file over documented defaults. A bad value fails at
start-up with a ``ConfigError`` naming the variable, the form expected and the value given
(masked when secret); a feature that is enabled and lacks a setting it needs fails the same
way, and a disabled feature needs none of its settings.

The registry of variables is ``VARIABLES`` (its tables are data modules in
``clara/_config/``, merged into one); ``python -m clara config`` prints the effective
configuration with every secret masked, and the README's table is generated from it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
from dotenv import dotenv_values

from ._config.addresses import is_loopback
from ._config.dsn import masked_dsn
from ._config.folders import check_data_dir
from ._config.render import effective_configuration, settings_table
from ._config.settings import (
    AREAS,
    LLM_PROVIDERS,
    DatabaseSettings,
    DiscordSettings,
    EmailSettings,
    EncryptionSettings,
    LlmSettings,
    LoggingSettings,
    McpSettings,
    MemorySettings,
    ProactiveSettings,
    RuntimeSettings,
    SandboxSettings,
    Settings,
    StatusSettings,
)
from ._config.values import Secret, mask, plain, shown
from ._config.variables import VARIABLES, Var
from .errors import ConfigError

__all__ = [
    "AREAS",
    "ENV_FILE_VARIABLE",
    "LLM_PROVIDERS",
    "VARIABLES",
    "ConfigError",
    "DatabaseSettings",
    "DiscordSettings",
    "EmailSettings",
    "EncryptionSettings",
    "LlmSettings",
    "LoggingSettings",
    "McpSettings",
    "MemorySettings",
    "ProactiveSettings",
    "RuntimeSettings",
    "SandboxSettings",
    "Secret",
    "Settings",
    "StatusSettings",
    "Var",
    "effective_configuration",
    "is_loopback",
    "load_settings",
    "mask",
    "masked_dsn",
    "read_environment",
    "settings_table",
    "sources",
]

#: Names another .env file than ./.env.
ENV_FILE_VARIABLE = "CLARA_ENV_FILE"

_QUIET_HOURS = re.compile(r"^([01]?\d|2[0-3])-([01]?\d|2[0-3])$")


def read_environment(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> dict[str, str]:
    """The process environment over the .env file (``CLARA_ENV_FILE``, else ``./.env``).

    The environment wins: a .env file fills in what the environment does not set.

    Raises:
        ConfigError: CLARA_ENV_FILE names a file that does not exist.
    """
    environ = os.environ if environ is None else environ
    path = env_file
    if path is None:
        named = environ.get(ENV_FILE_VARIABLE, "").strip()
        if named:
            path = Path(named)
            if not path.is_file():
                raise ConfigError(f"{ENV_FILE_VARIABLE} names {shown(named)}, which is not a file")
        else:
            path = Path(".env")
    merged: dict[str, str] = {}
    if path.is_file():
        try:
            values = dotenv_values(path)
        except (OSError, UnicodeDecodeError) as error:
            cause = error.strerror if isinstance(error, OSError) else "it is not UTF-8 text"
            raise ConfigError(f"cannot read the .env file {shown(str(path))}: {cause}") from None
        merged.update({k: v for k, v in values.items() if v is not None})
    merged.update(environ)
    return merged


def sources(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> dict[str, str]:
    """Where each Clara variable's value comes from: environment, .env, or default."""
    environ = os.environ if environ is None else environ
    merged = read_environment(environ, env_file)
    found: dict[str, str] = {}
    for var in VARIABLES:
        if environ.get(var.name, "").strip():
            found[var.name] = "environment"
        elif merged.get(var.name, "").strip():
            found[var.name] = ".env"
        else:
            found[var.name] = "default"
    return found


def load_settings(
    env: Mapping[str, str] | None = None, *, data_dir_needed: bool = True
) -> Settings:
    """Read and check every setting.

    Args:
        env: the variables to read; by default the process environment over the .env file.
        data_dir_needed: check that the data folder can be used (or created) where
            ``CLARA_DATA_DIR`` says; a command that never touches it (``python -m clara
            status``, run from any folder) says no.

    Raises:
        ConfigError: a variable is malformed, or a feature that is enabled lacks a setting
            it needs, or the data folder cannot be used. The message is one line; it names
            the variable, the form expected and the value given (masked when it is a
            secret).
    """
    values = read_environment() if env is None else env
    areas: dict[str, dict[str, Any]] = {area: {} for area in AREAS}
    for var in VARIABLES:
        raw = values.get(var.name)
        if raw is None or raw.strip() == "":
            continue
        value = plain(var.name, raw, secret=var.secret)
        areas[var.area][var.field] = var.parse(var.name, value)
    defaults = Settings()
    built = {
        area: msgspec.structs.replace(getattr(defaults, area), **fields)
        for area, fields in areas.items()
    }
    settings = Settings(**built)
    if data_dir_needed:
        check_data_dir(settings.runtime.data_dir)
    _check(settings)
    return settings


def _check(settings: Settings) -> None:
    """What no single variable can know: settings that depend on each other."""
    status = settings.status
    if status.enabled and status.token is None and not is_loopback(status.host):
        raise ConfigError(
            f"CLARA_STATUS_HOST is {shown(status.host)}, which is not a loopback address: anyone "
            "who can reach it could read the tree. Set CLARA_STATUS_TOKEN (a bearer token of "
            "16+ characters), or bind to 127.0.0.1"
        )
    llm = settings.llm
    for provider in llm.providers:
        if provider not in LLM_PROVIDERS:
            raise ConfigError(
                f"CLARA_LLM_PROVIDERS must list providers from {', '.join(LLM_PROVIDERS)}; "
                f"got {shown(provider)}"
            )
        if provider != "local" and llm.key_of(provider) is None:
            raise ConfigError(
                f"CLARA_LLM_PROVIDERS lists {shown(provider)}, so {provider.upper()}_API_KEY is "
                "required; it is not set"
            )
    sandbox = settings.sandbox
    if sandbox.backend == "docker" and not sandbox.image:
        raise ConfigError(
            "CLARA_SANDBOX_BACKEND is docker, so CLARA_SANDBOX_IMAGE (the image sandboxes "
            "run) is required; it is not set"
        )
    proactive = settings.proactive
    if proactive.enabled and not _QUIET_HOURS.match(proactive.quiet_hours):
        raise ConfigError(
            "CLARA_PROACTIVE_QUIET_HOURS must be two hours HH-HH (e.g. 22-08; the same hour "
            f"twice, 00-00, for none); got {shown(proactive.quiet_hours)}"
        )
    memory = settings.memory
    if memory.enabled and memory.vector_store == "pgvector":
        url = settings.database.url.reveal() if settings.database.url is not None else ""
        if not url.startswith(("postgresql", "postgres")):
            raise ConfigError(
                "CLARA_MEMORY_VECTOR_STORE is pgvector, so DATABASE_URL must name a PostgreSQL "
                "database (postgresql://USER:PASSWORD@HOST/DB) with the vector extension"
            )
    allowed = {"npm", "github", "image", "path", "url"}
    if settings.mcp.enabled:
        for source in settings.mcp.allowed_sources:
            if source not in allowed:
                raise ConfigError(
                    "CLARA_MCP_ALLOWED_SOURCES must list sources from "
                    f"{', '.join(sorted(allowed))}; got {shown(source)}"
                )
        if "image" in settings.mcp.allowed_sources and not settings.mcp.container_engine:
            raise ConfigError(
                "CLARA_MCP_ALLOWED_SOURCES allows image, so CLARA_MCP_CONTAINER_ENGINE (podman "
                "or docker) is required; it is not set"
            )
