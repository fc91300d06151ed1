"""Clara's configuration: the only package that reads the environment.

Settings are frozen msgspec Structs, one per area (runtime, logging, status, database,
encryption, discord, llm, memory, mcp, email, sandbox, proactive), read from the
environment over an optional ``.env`` file over documented defaults. A bad value fails at
start-up with a ``ConfigError`` naming the variable, the form expected and the value given
(masked when secret); a feature that is enabled and lacks a setting it needs fails the same
way, and a disabled feature needs none of its settings.

The registry of variables is ``VARIABLES``; ``python -m clara config`` prints the effective
configuration with every secret masked, and the README's table is generated from it.
"""

from ..errors import ConfigError
from ._load import ENV_FILE_VARIABLE, load_settings, read_environment, sources
from ._render import effective_configuration, settings_table
from ._settings import (
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
from ._values import Secret, is_loopback, mask, masked_dsn
from ._variables import VARIABLES, Var

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
