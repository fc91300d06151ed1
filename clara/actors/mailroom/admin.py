"""Deciding on replies: ``/mailroom approve|reject|edit|pending``, for operators only.

One function, ``MailroomAdmin.run``, behind the slash commands (and any button a platform
adds), so every way in goes through the same checks, as the MCP commands do:

- **who**: with ``CLARA_MAILROOM_OPERATORS`` set, only the people it names, wherever they
  run the command; without it, server administrators (administrator or manage-server
  permission, or the configured admin role) and only in the operator channel. The channel
  matters: in a DM everyone counts as that DM's administrator, and a stranger who could
  approve in a DM could send mail as Clara;
- **how often**: each person may run ``ops_per_minute`` commands a minute (``UserRates``);
- **audit**: every command, done, refused or failed, is written to the audit log (who,
  which message, the outcome, never the mail's or the draft's text).

A decision is recorded in the store first (``decide_mailroom_message``: compare-and-set, so
a reply already on its way cannot be rejected or edited, and one rejected cannot be sent),
then the desk is woken to act on it. The desk reads the decision from the store, never from
the message, so a wake lost to a crash costs nothing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import trio

from ...adapters.chat import DISCORD_LIMIT, Author
from ...config import DiscordSettings
from ...errors import ClaraError
from ...store import (
    MAX_DRAFT_CHARS,
    Database,
    StoredMailroomMessage,
    decide_mailroom_message,
    pending_mailroom_messages,
)
from .. import ActorRef
from ..policy import UserRates, is_admin, write_audit
from .messages import Wake

__all__ = ["OPERATIONS", "MailroomAdmin"]

logger = logging.getLogger(__name__)

OPERATIONS: dict[str, str] = {
    "pending": "operator: the mail waiting for a decision, or on its way out",
    "approve": "operator: send the drafted reply to one mail",
    "reject": "operator: send no reply to one mail",
    "edit": "operator: replace the draft reply of one mail (then approve it)",
}
_ID = re.compile(r"#?([0-9]{1,18})")


@dataclass
class MailroomAdmin:
    """The operations, their checks, their audit.

    Attributes:
        database: the store.
        desk: the desk actor, woken after each decision (None: it is not running; the
            decision waits in the store for its next start).
        operator_channel: where administrators may decide (without ``operators``).
        operators: user ids who alone may decide, anywhere (empty: administrators in the
            operator channel).
        discord: the admin role.
        address: Clara's own address (its domain ends the reply's Message-ID).
        ops_per_minute: commands one person may run a minute.
    """

    database: Database
    desk: ActorRef | None
    operator_channel: str
    operators: tuple[str, ...]
    discord: DiscordSettings
    address: str
    ops_per_minute: int = 10
    rates: UserRates = field(default_factory=UserRates)

    def is_operator(self, author: Author, channel_id: str | None) -> bool:
        """Whether ``author`` may decide here (see the module's docstring)."""
        if self.operators:
            return author.id in self.operators
        return (
            channel_id is not None
            and channel_id == self.operator_channel
            and is_admin(author, self.discord)
        )

    async def _audit(
        self, who: str, operation: str, target: str, outcome: str, details: dict[str, Any]
    ) -> None:
        await write_audit(
            self.database,
            actor=who,
            action=f"mailroom.{operation}",
            target=target,
            outcome=outcome,
            details=details,
        )

    async def run(
        self,
        operation: str,
        options: dict[str, Any],
        author: Author,
        *,
        platform: str = "discord",
        channel_id: str | None = None,
        guild_id: str | None = None,
    ) -> str:
        """Run one operation for ``author`` (in ``channel_id``, where it was run); the text
        to show them (only to them: it may quote mail). ``guild_id`` is taken as the other
        families' commands take it, and not used: the operator channel decides, not the
        server."""
        who = f"{platform}:{author.id}"
        raw_id = str(options.get("id") or "").strip()
        target = f"mailroom:{raw_id}" if raw_id else "mailroom"
        details: dict[str, Any] = {"channel": channel_id or "-"}
        if operation not in OPERATIONS:
            return f"There is no /mailroom {operation}; try one of: {', '.join(OPERATIONS)}."
        verdict = self.rates.take(
            who, trio.current_time(), per_minute=self.ops_per_minute, notice_interval=0.0
        )
        if verdict != "ok":
            await self._audit(who, operation, target, "refused", {**details, "reason": "rate"})
            return (
                f"Too many mailroom commands: {self.ops_per_minute} a minute at most. "
                "Try again in a moment."
            )
        if not self.is_operator(author, channel_id):
            reason = "not an operator"
            await self._audit(who, operation, target, "refused", {**details, "reason": reason})
            return self._not_allowed()
        if operation == "pending":
            answer = await self._pending()
            await self._audit(who, operation, target, "done", details)
            return answer
        match = _ID.fullmatch(raw_id)
        if match is None:
            return f"Name the mail by its number: /mailroom {operation} id:12 (got {raw_id!r})."
        message_id = int(match.group(1))
        target = f"mailroom:{message_id}"
        text = str(options.get("text") or "").strip()
        if operation == "edit":
            if not text:
                return "Give the new reply: /mailroom edit id:… text:…"
            if len(text) > MAX_DRAFT_CHARS:
                return f"A reply may be at most {MAX_DRAFT_CHARS} characters; this is {len(text)}."
            details["chars"] = len(text)
        try:
            done, row = await self.database.write(
                decide_mailroom_message,
                message_id,
                operation,
                who,
                draft=text if operation == "edit" else None,
                message_id_domain=self.address.rpartition("@")[2] or "clara.invalid",
            )
        except ClaraError as error:
            await self._audit(who, operation, target, "failed", {**details, "error": str(error)})
            return f"/mailroom {operation} failed: {error}"
        if row is None:
            await self._audit(who, operation, target, "refused", {**details, "reason": "unknown"})
            return f"There is no mail #{message_id}."
        if not done:
            reason = _why_not(operation, row)
            await self._audit(
                who, operation, target, "refused", {**details, "reason": reason, "state": row.state}
            )
            return f"Mail #{message_id}: {reason}."
        await self._audit(who, operation, target, "done", {**details, "state": row.state})
        logger.info("mailroom: %s %s mail %s", who, operation, message_id)
        if operation == "approve":
            await self._wake()
            return (
                f"Approved: the reply to mail #{message_id} is on its way to {row.reply_to}. "
                "I post here when it is sent."
            )
        if operation == "reject":
            return f"Rejected: mail #{message_id} gets no reply."
        return (
            f"The draft of mail #{message_id} is now yours ({len(text)} characters). "
            f"Send it with /mailroom approve id:{message_id}."
        )

    def _not_allowed(self) -> str:
        if self.operators:
            return "Only the mailroom's operators can do that."
        role = f" or the {self.discord.admin_role} role" if self.discord.admin_role else ""
        return f"Only server administrators{role} can do that, in the mailroom's operator channel."

    async def _wake(self) -> None:
        if self.desk is None:
            return
        try:
            await self.desk.tell(Wake())
        except ClaraError as error:  # the decision is recorded: the desk's next start acts
            logger.info("mailroom: the desk could not be woken: %s", error)

    async def _pending(self) -> str:
        rows = await self.database.run(pending_mailroom_messages, 20)
        if not rows:
            return "No mail is waiting for a decision."
        lines = ["Mail waiting for a decision, or on its way out:"]
        for row in rows:
            line = f"#{row.id} [{row.state}] {row.sender or '?'} — {row.subject or '(no subject)'}"
            if row.state in ("approved", "sending") and row.last_error:
                line += f" (retrying: {row.last_error[:80]})"
            if row.state == "failed":
                line += f" (failed: {(row.last_error or '')[:80]})"
            lines.append(line[:300])
        return "\n".join(lines)[:DISCORD_LIMIT]


def _why_not(operation: str, row: StoredMailroomMessage) -> str:
    """Why a decision could not be taken, in words."""
    state = row.state
    if operation == "approve" and state in ("summarised", "posted", "failed"):
        return "there is no draft to send: write one with /mailroom edit first"
    if state == "approved":
        return "it is already approved and about to be sent"
    if state == "sending":
        return "its reply is being sent right now"
    if state == "sent":
        return "its reply was already sent"
    if state == "rejected":
        return "it was rejected"
    if state == "skipped":
        return f"it was skipped as automated mail ({row.skip_reason or 'no reason kept'})"
    if state == "new":
        return "it is not summarised yet; wait for its post"
    return f"it cannot be changed now ({state})"
