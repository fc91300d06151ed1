"""Showing the settings: the README's table, and the effective configuration, masked."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .dsn import masked_dsn
from .settings import Settings
from .values import Secret
from .variables import VARIABLES, Var

__all__ = ["effective_configuration", "settings_table"]


def settings_table() -> str:
    """The configuration table of the README, in Markdown, generated from the registry."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for var in VARIABLES:
        default = f"`{var.default_text}`" if var.default_text else "(unset)"
        meaning = var.doc + ("; secret: never shown or logged" if var.secret else "")
        lines.append(f"| `{var.name}` | {default} | {meaning} |")
    return "\n".join(lines) + "\n"


def _show(value: Any, var: Var) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, Secret):
        if var.parse.kind == "database_url":
            return masked_dsn(value.reveal())
        return "****"
    if isinstance(value, tuple):
        if value and all(isinstance(item, Secret) for item in value):
            return ", ".join("****" for _ in value) + f"  ({len(value)} keys)"
        return ",".join(str(item) for item in value) or "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return str(value)
    if value == "":
        return "(empty)"
    return str(value)


def effective_configuration(settings: Settings, origins: Mapping[str, str]) -> str:
    """Every setting with its value (secrets masked) and where it came from."""
    lines: list[str] = []
    current = ""
    width = max(len(var.name) for var in VARIABLES)
    for var in VARIABLES:
        if var.area != current:
            current = var.area
            lines.append(f"[{current}]")
        value = getattr(getattr(settings, var.area), var.field)
        origin = origins.get(var.name, "default")
        lines.append(f"  {var.name:<{width}}  {_show(value, var)}  ({origin})")
    return "\n".join(lines) + "\n"
