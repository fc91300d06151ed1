"""What the proactive actors are told and asked."""

from __future__ import annotations

import datetime as dt

import msgspec

from .context import MailHint

__all__ = ["Check", "MailArrived", "PersonStatus", "StatusAsk", "Tick"]


class Check(msgspec.Struct, frozen=True, kw_only=True):
    """Tell a person's actor: run a check (the scheduler found it due)."""

    forced: bool = False
    """Run it even if the store says the next check is later (``/ors`` tests, operators)."""


class MailArrived(msgspec.Struct, frozen=True, kw_only=True):
    """Tell a person's actor: important mail came (an email account's actor saw it)."""

    hint: MailHint


class StatusAsk(msgspec.Struct, frozen=True):
    """Ask a person's actor how it stands (answered with ``PersonStatus``)."""


class PersonStatus(msgspec.Struct, frozen=True, kw_only=True):
    state: str
    next_check_at: dt.datetime | None
    last_decision: str | None
    last_reason: str | None
    checks: int
    invalid: int


class Tick(msgspec.Struct, frozen=True):
    """Timer: the scheduler's (and the hub's) beat."""
