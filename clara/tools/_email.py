"""Tools for the model over the asking person's own mail: ``search_email`` and ``read_email``.

Only the asker's accounts are ever touched: each call loads the accounts whose owner is the
person being answered (``email_accounts_of``), and a message reference names an account,
the mailbox's UIDVALIDITY and a UID. A reference to an account that is not theirs is "not
found", exactly like one that never existed, so a guess tells nothing about other people.

Each call opens a short-lived IMAP connection per account in a worker thread, behind a
limiter the mail tools share, within ``timeout`` seconds (the connection is closed at the
deadline, which wakes its thread). Results are bounded (at most ``MAX_RESULTS`` messages,
``BODY_CHARS`` characters of a body) and attachments are named, never fetched. An account
that cannot be reached is reported as "your account X cannot be reached: ..." with the
adapter's reason, which names the server and never the password. Accounts are searched at
once (bounded by the limiter); one in error (its password refused, or failing for a while)
is not logged in to again, only named, so the tools never add refused logins of their own.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import trio

from ..adapters.email import (
    EmailError,
    FetchedMail,
    ImapEndpoint,
    ImapLoginRefused,
    ImapSession,
    ImapUnavailable,
    MailMessage,
    open_session,
    read_inbox_message,
    safe_search_words,
    search_inbox,
)
from ..adapters.llm import ToolSpec
from ..errors import OAuthError
from ..store import Database, SecretBox, StoredEmailAccount, email_accounts_of, email_password
from ._history import _given, _limit, _snippet
from ._mail_owners import MailOwners

__all__ = [
    "BODY_CHARS",
    "MAX_RESULTS",
    "AccessTokens",
    "EmailTools",
    "MailToolbox",
    "MailUnreachable",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Search results: by default, and at most.
RESULTS = 10
MAX_RESULTS = 25
#: Characters of a message's text ``read_email`` shows.
BODY_CHARS = 4000
#: Characters of the query looked at (the rest is ignored).
MAX_QUERY = 500

_REFERENCE = re.compile(r"^mail:(\d{1,12}):(\d{1,12}):(\d{1,12})$")


class AccessTokens(Protocol):
    """Where an OAuth account's access token comes from (``EmailTokens``)."""

    async def access_token(self, account_id: int, *, force: bool = False) -> str: ...


class MailUnreachable(EmailError):
    """None of the accounts asked about could be reached; the message says why for each."""


class MailToolbox:
    """What the mail tools share across replies: the store, the key, the thread limiter, the
    index of who has accounts.

    Args:
        database: where accounts are stored.
        secrets: decrypts an account's password, only to log in.
        threads: at most this many IMAP connections of the mail tools at once.
        timeout: seconds one account may take (connect, log in, search or read).
        connect: opens a session (tests may count or break connections).
        tokens: fresh access tokens of the accounts that sign in with OAuth (the account
            actors' ``EmailTokens``, so both share one refresh per account).
    """

    def __init__(
        self,
        database: Database,
        secrets: SecretBox,
        *,
        threads: int = 4,
        timeout: float = 20.0,
        connect: Callable[[ImapEndpoint], ImapSession] = open_session,
        tokens: AccessTokens | None = None,
    ) -> None:
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a whole number of at least 1; got {threads!r}")
        if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds; got {timeout!r}")
        self.database = database
        self.secrets = secrets
        self.limiter = trio.CapacityLimiter(threads)
        self.timeout = float(timeout)
        self.connect = connect
        self.tokens = tokens
        self.owners = MailOwners(database)

    def tools_for(self, platform: str, platform_user_id: str) -> EmailTools | None:
        """The mail tools for that person, or None when they have no connected account."""
        if not self.owners.has_accounts(platform, platform_user_id):
            return None
        return EmailTools(self, platform, platform_user_id)

    async def on_account(self, account: StoredEmailAccount, job: Callable[[ImapSession], T]) -> T:
        """Log in to ``account`` in a worker thread, run ``job`` on the session, log out.

        An account that signs in with OAuth logs in with a fresh access token (XOAUTH2); a
        refused token is refreshed once and tried again, as its account actor does.

        Raises:
            ImapUnavailable: no answer within ``timeout`` (the connection is closed).
            EmailError: what the adapter raised (login refused, connection lost...), or an
                OAuth account whose sign-in no longer works (the person must sign in again).
        """
        if account.auth_method != "oauth2":
            password = await self.database.run(email_password, self.secrets, account.id)
            return await self._run(self._endpoint(account, password=password), job)
        try:
            endpoint = self._endpoint(account, token=await self._token(account, force=False))
            try:
                return await self._run(endpoint, job)
            except ImapLoginRefused:
                endpoint = self._endpoint(account, token=await self._token(account, force=True))
                return await self._run(endpoint, job)
        except OAuthError as error:
            provider = account.oauth_provider or "its provider"
            raise EmailError(
                f"the sign-in with {provider} no longer works ({error}); "
                f"/email connect provider:{provider} signs it in again"
            ) from None

    async def _token(self, account: StoredEmailAccount, *, force: bool) -> str:
        if self.tokens is None:
            raise OAuthError("this Clara has no OAuth tokens service")
        return await self.tokens.access_token(account.id, force=force)

    def _endpoint(
        self, account: StoredEmailAccount, *, password: str = "", token: str | None = None
    ) -> ImapEndpoint:
        return ImapEndpoint(
            host=account.imap_host,
            port=account.imap_port,
            username=account.username,
            password=password,
            access_token=token,
            use_tls=account.use_tls,
            timeout=self.timeout,
        )

    async def _run(self, endpoint: ImapEndpoint, job: Callable[[ImapSession], T]) -> T:
        opened: list[ImapSession] = []

        def work() -> T:
            session = self.connect(endpoint)
            opened.append(session)
            try:
                return job(session)
            finally:
                session.close()

        finished = False
        try:
            with trio.fail_after(self.timeout):
                result = await trio.to_thread.run_sync(
                    work, limiter=self.limiter, abandon_on_cancel=True
                )
            finished = True
        except trio.TooSlowError:
            raise ImapUnavailable(
                f"{endpoint.label}: no answer within {self.timeout:g} s"
            ) from None
        finally:
            if not finished:
                for session in opened:  # wakes the abandoned thread
                    session.close()
        return result


class EmailTools:
    """``search_email`` and ``read_email`` over one person's own connected accounts.

    Made per reply by ``MailToolbox.tools_for``.
    """

    name = "email"

    def __init__(self, toolbox: MailToolbox, platform: str, platform_user_id: str) -> None:
        self._toolbox = toolbox
        self._platform = platform
        self._user = platform_user_id

    def specs(self) -> list[ToolSpec]:
        return [
            ToolSpec(
                name="search_email",
                description="Search the INBOX of the mail accounts the person you are "
                "answering connected (only theirs) for words in the sender, subject or body; "
                "newest first. Each result has a reference for read_email.",
                parameters={
                    "type": "object",
                    "properties": {
                        "query": {"type": "string", "description": "words that must all appear"},
                        "account": {
                            "type": "string",
                            "description": "only this account (its address); default: all",
                        },
                        "limit": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_RESULTS,
                            "description": f"at most this many results (default {RESULTS})",
                        },
                    },
                    "required": ["query"],
                },
            ),
            ToolSpec(
                name="read_email",
                description="Read one message found by search_email: its headers, its text "
                f"(at most {BODY_CHARS} characters) and its attachments' names, types and "
                "sizes (never their content).",
                parameters={
                    "type": "object",
                    "properties": {
                        "reference": {
                            "type": "string",
                            "description": "the reference search_email gave (mail:...)",
                        }
                    },
                    "required": ["reference"],
                },
            ),
        ]

    async def call(self, tool: str, arguments: dict[str, Any]) -> str:
        """Run ``tool``.

        Raises:
            ValueError: a missing or unusable argument, an account that is not theirs, a
                reference that is not found.
            MailUnreachable: no account asked about could be reached.
        """
        if tool == "search_email":
            return await self._search(arguments)
        if tool == "read_email":
            return await self._read(arguments)
        raise ValueError(f"no such tool {tool!r}")

    async def _accounts(self) -> list[StoredEmailAccount]:
        return await self._toolbox.database.run(email_accounts_of, self._platform, self._user)

    async def _search(self, arguments: dict[str, Any]) -> str:
        query = str(arguments.get("query") or "")[:MAX_QUERY]
        words = safe_search_words(query.split())
        if not words:
            raise ValueError(
                "query must hold at least one word to look for (letters or digits; other "
                "characters are left out)"
            )
        limit = _limit(arguments.get("limit"), RESULTS, MAX_RESULTS)
        accounts = await self._accounts()
        wanted = _given(arguments.get("account"))
        if wanted is not None:
            accounts = [a for a in accounts if a.address.lower() == wanted.lower()]
            if not accounts:
                raise ValueError(f"they have no connected account {wanted[:320]!r}")
        if not accounts:
            return "They have no connected mail account."
        found: list[tuple[StoredEmailAccount, int, FetchedMail]] = []
        problems: list[str] = [_in_error(account) for account in accounts if _broken(account)]
        total = 0

        async def search(account: StoredEmailAccount) -> None:
            nonlocal total
            try:
                result = await self._toolbox.on_account(
                    account, lambda session: search_inbox(session, words, limit)
                )
            except EmailError as error:
                problems.append(_unreachable(account, error))
                return
            total += result.total
            found.extend((account, result.uidvalidity, mail) for mail in result.mails)

        # Every account at once (the toolbox's limiter bounds the connections): one slow
        # server delays the answer by its own time, not by the sum of all of them.
        async with trio.open_nursery() as nursery:
            for account in accounts:
                if not _broken(account):
                    nursery.start_soon(search, account)
        problems.sort()
        if problems and len(problems) == len(accounts):
            raise MailUnreachable("; ".join(problems))
        found.sort(key=lambda item: (item[2].internal_date or _EPOCH, item[2].uid), reverse=True)
        found = found[:limit]
        lowered = [word.lower() for word in words]
        lines = [
            f"- {_when(mail)} · {account.address} · from {mail.sender} · "
            f"{mail.subject or '(no subject)'}"
            + (" · has attachments" if mail.has_attachments else "")
            + f"\n  {_snippet(mail.snippet, lowered)[:200]}"
            + f"\n  reference: mail:{account.id}:{uidvalidity}:{mail.uid}"
            for account, uidvalidity, mail in found
        ]
        notes = "".join(f"\n({problem})" for problem in problems)
        if not lines:
            return f"No message matches {query[:100]!r}.{notes}"
        shown = f"the newest {len(lines)} of {total}" if total > len(lines) else str(len(lines))
        return f"{shown} message(s) match, newest first:\n" + "\n".join(lines) + notes

    async def _read(self, arguments: dict[str, Any]) -> str:
        reference = str(arguments.get("reference") or "").strip()
        parsed = _REFERENCE.match(reference)
        not_found = ValueError(f"message {reference[:80]!r} not found")
        if parsed is None:
            raise not_found
        account_id, uidvalidity, uid = (int(group) for group in parsed.groups())
        account = next((a for a in await self._accounts() if a.id == account_id), None)
        if account is None:
            raise not_found  # theirs or nobody's: the same answer
        if _broken(account):
            raise MailUnreachable(_in_error(account))
        try:
            message = await self._toolbox.on_account(
                account,
                lambda session: read_inbox_message(session, uidvalidity, uid, BODY_CHARS),
            )
        except EmailError as error:
            raise MailUnreachable(_unreachable(account, error)) from None
        if message is None:
            raise not_found
        return _message_text(account, message)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _broken(account: StoredEmailAccount) -> bool:
    """Whether the account is in error (its password refused, or failing for a while): the
    tools do not log in to it again. Its actor keeps trying, and clears the error when a
    login works; another refused login from here would only count towards the server
    locking the account."""
    return account.status == "error"


def _in_error(account: StoredEmailAccount) -> str:
    why = f": {account.last_error}" if account.last_error else ""
    return (
        f"your account {account.address} is in error{why} "
        "(see /email status; /email connect fixes a changed password)"
    )


def _unreachable(account: StoredEmailAccount, error: EmailError) -> str:
    logger.info("mail tools: account %s cannot be reached: %s", account.id, error)
    return f"your account {account.address} cannot be reached: {error}"


def _when(mail: FetchedMail) -> str:
    moment = mail.date or mail.internal_date
    return "(no date)" if moment is None else f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


def _size(size: int | None) -> str:
    if size is None:
        return "size unknown"
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _message_text(account: StoredEmailAccount, message: MailMessage) -> str:
    date = (
        "(no date)"
        if message.date is None
        else f"{message.date.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"
    )
    lines = [
        f"Account: {account.address}",
        f"From: {message.sender}",
        f"To: {', '.join(message.to) or '(nobody named)'}",
        f"Date: {date}",
        f"Subject: {message.subject or '(no subject)'}",
    ]
    if message.attachments:
        lines.append("Attachments (not opened):")
        lines += [
            f"- {item.name} ({item.content_type}, {_size(item.size)})"
            for item in message.attachments
        ]
    else:
        lines.append("Attachments: none")
    body = message.text or "(no text part)"
    cut = f"\n[… cut at {BODY_CHARS} characters]" if message.truncated else ""
    return "\n".join(lines) + "\n\n" + body + cut
