"""``Var``: one environment variable of the registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .settings import Settings
from .values import Parser, seconds

__all__ = ["SECONDS", "Var"]

SECONDS = seconds()
"""The parser of a duration in seconds (shared by the registry's modules)."""


@dataclass(frozen=True)
class Var:
    """One environment variable: where it goes, how it is read, what it means."""

    name: str
    area: str
    field: str
    parse: Parser
    doc: str
    default_text: str = ""

    @property
    def secret(self) -> bool:
        return self.parse.secret

    def default(self) -> Any:
        return getattr(Settings(), self.area).__getattribute__(self.field)
