"""Who counts as an administrator, the audit log's one writer for actors and commands, and the
one way a family's slash command runs: rate limit, refusal, the work, each outcome audited."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

from ...adapters.chat import Author
from ...config import DiscordSettings
from ...errors import ClaraError
from ...store import Database, audit
from .rates import UserRates

__all__ = ["is_admin", "run_audited", "write_audit"]


def is_admin(author: Author, settings: DiscordSettings) -> bool:
    """A server administrator (or Manage Server, or alone in a DM), or holds the admin role."""
    role = settings.admin_role
    return author.is_admin or (bool(role) and role in author.roles)


async def write_audit(
    database: Database | None,
    *,
    actor: str,
    action: str,
    target: str,
    outcome: str,
    details: dict[str, Any],
) -> None:
    """Append one entry to the audit log (nothing without a store)."""
    if database is None:
        return
    await database.run(
        lambda session: audit(
            session, actor=actor, action=action, target=target, outcome=outcome, details=details
        )
    )


async def run_audited(
    database: Database | None,
    *,
    action: str,
    who: str,
    target: str,
    details: dict[str, Any],
    rates: UserRates,
    per_minute: int,
    too_many: str,
    refusal: str | None,
    work: Callable[[], Awaitable[str | tuple[str, str]]],
    failed: Callable[[Exception], str],
) -> str:
    """Run one command ``action`` (``sandbox.reset``) for ``who``; the text to show them.

    In order, each ending audited: more than ``per_minute`` a minute → ``too_many``
    (refused); a ``refusal`` (an administrator's command run by someone else, ...) → that
    text (refused); ``work()`` → its answer (done; or ``(answer, outcome)`` for another
    outcome, e.g. ``asked`` when it asks for a confirmation), or, when it raises a
    ``ClaraError`` or a ``ValueError`` (bad input named in the message), ``failed(error)``.
    """

    async def record(outcome: str, extra: dict[str, Any]) -> None:
        await write_audit(
            database,
            actor=who,
            action=action,
            target=target,
            outcome=outcome,
            details={**details, **extra},
        )

    verdict = rates.take(who, trio.current_time(), per_minute=per_minute, notice_interval=0.0)
    if verdict != "ok":
        await record("refused", {"reason": "rate limit"})
        return too_many
    if refusal is not None:
        await record("refused", {"reason": refusal})
        return refusal
    try:
        result = await work()
    except (ClaraError, ValueError) as error:
        await record("failed", {"error": str(error)[:300]})
        return failed(error)
    answer, outcome = (result, "done") if isinstance(result, str) else result
    await record(outcome, {})
    return answer
