"""The sandbox's records: the audit of every code run, and each server's sandbox settings.

A run is written twice: ``start_sandbox_run`` before it starts (committed before the code
runs) and ``finish_sandbox_run`` after it ends. A run cut short (Clara killed, the actor
crashed mid-run) keeps its unfinished row, so the audit never silently misses a run.
"""

from __future__ import annotations

import datetime as dt

import msgspec
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import SandboxRun, SandboxServerSettings, utcnow

__all__ = [
    "SANDBOX_MODES",
    "SandboxPolicy",
    "SandboxRunRecord",
    "SandboxRunTotals",
    "finish_sandbox_run",
    "load_sandbox_policy",
    "sandbox_run_totals",
    "sandbox_runs_of",
    "save_sandbox_policy",
    "start_sandbox_run",
]

#: Who may use the code tools on a server: nobody, its administrators, everyone.
SANDBOX_MODES = ("off", "admins", "everyone")

_ERROR_CHARS = 500


class SandboxPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """One server's choices (a server that never chose: everyone, no network)."""

    mode: str = "everyone"
    network: bool = False


class SandboxRunRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    platform: str
    user_id: str
    channel_id: str
    guild_id: str | None
    tool: str
    code_hash: str
    backend: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    duration: float | None
    exit_code: int | None
    output_bytes: int
    truncated: bool
    killed: bool
    error: str | None


class SandboxRunTotals(msgspec.Struct, frozen=True, kw_only=True):
    """One person's runs, all told."""

    runs: int
    last_started_at: dt.datetime | None
    unfinished: int


def start_sandbox_run(
    session: Session,
    *,
    platform: str,
    user_id: str,
    channel_id: str,
    guild_id: str | None,
    tool: str,
    code_hash: str,
    backend: str,
) -> int:
    """Record a run about to start; its id (for ``finish_sandbox_run``)."""
    row = SandboxRun(
        platform=platform,
        user_id=user_id,
        channel_id=channel_id,
        guild_id=guild_id,
        tool=tool,
        code_hash=code_hash,
        backend=backend,
        started_at=utcnow(),
        output_bytes=0,
        truncated=False,
        killed=False,
    )
    session.add(row)
    session.flush()
    return row.id


def finish_sandbox_run(
    session: Session,
    run_id: int,
    *,
    duration: float | None,
    exit_code: int | None,
    output_bytes: int = 0,
    truncated: bool = False,
    killed: bool = False,
    error: str | None = None,
) -> None:
    """Record how run ``run_id`` ended (nothing if there is no such run)."""
    row = session.get(SandboxRun, run_id)
    if row is None:
        return
    row.finished_at = utcnow()
    row.duration = duration
    row.exit_code = exit_code
    row.output_bytes = output_bytes
    row.truncated = truncated
    row.killed = killed
    row.error = error[:_ERROR_CHARS] if error else None


def sandbox_runs_of(
    session: Session, platform: str, user_id: str, *, limit: int = 50
) -> list[SandboxRunRecord]:
    """One person's latest runs, newest first."""
    rows = session.scalars(
        select(SandboxRun)
        .where(SandboxRun.platform == platform, SandboxRun.user_id == user_id)
        .order_by(SandboxRun.id.desc())
        .limit(limit)
    )
    return [_record(row) for row in rows]


def sandbox_run_totals(session: Session, platform: str, user_id: str) -> SandboxRunTotals:
    row = session.execute(
        select(
            func.count(SandboxRun.id),
            func.max(SandboxRun.started_at),
            func.count(SandboxRun.id).filter(SandboxRun.finished_at.is_(None)),
        ).where(SandboxRun.platform == platform, SandboxRun.user_id == user_id)
    ).one()
    last = row[1]
    if isinstance(last, dt.datetime) and last.tzinfo is None:  # SQLite's aggregate is naive
        last = last.replace(tzinfo=dt.UTC)
    return SandboxRunTotals(runs=row[0], last_started_at=last, unfinished=row[2])


def load_sandbox_policy(session: Session, platform: str, guild_id: str | None) -> SandboxPolicy:
    """A server's choices; a DM (no server) is always everyone, without a network."""
    if guild_id is None:
        return SandboxPolicy()
    row = session.scalars(
        select(SandboxServerSettings).where(
            SandboxServerSettings.platform == platform,
            SandboxServerSettings.guild_id == guild_id,
        )
    ).one_or_none()
    if row is None:
        return SandboxPolicy()
    mode = row.mode if row.mode in SANDBOX_MODES else "off"  # an unknown word fails closed
    return SandboxPolicy(mode=mode, network=row.network)


def save_sandbox_policy(
    session: Session,
    platform: str,
    guild_id: str,
    *,
    by: str,
    mode: str | None = None,
    network: bool | None = None,
) -> SandboxPolicy:
    """Change one or both of a server's choices; what they are now.

    Raises:
        ValueError: ``mode`` is not one of ``SANDBOX_MODES``.
    """
    if mode is not None and mode not in SANDBOX_MODES:
        raise ValueError(f"mode must be one of {', '.join(SANDBOX_MODES)}; got {mode!r}")
    row = session.scalars(
        select(SandboxServerSettings).where(
            SandboxServerSettings.platform == platform,
            SandboxServerSettings.guild_id == guild_id,
        )
    ).one_or_none()
    if row is None:
        row = SandboxServerSettings(
            platform=platform, guild_id=guild_id, mode="everyone", network=False
        )
        session.add(row)
    if mode is not None:
        row.mode = mode
    if network is not None:
        row.network = network
    row.updated_by = by
    row.updated_at = utcnow()
    session.flush()
    return SandboxPolicy(mode=row.mode, network=row.network)


def _record(row: SandboxRun) -> SandboxRunRecord:
    return SandboxRunRecord(
        id=row.id,
        platform=row.platform,
        user_id=row.user_id,
        channel_id=row.channel_id,
        guild_id=row.guild_id,
        tool=row.tool,
        code_hash=row.code_hash,
        backend=row.backend,
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration=row.duration,
        exit_code=row.exit_code,
        output_bytes=row.output_bytes,
        truncated=row.truncated,
        killed=row.killed,
        error=row.error,
    )
