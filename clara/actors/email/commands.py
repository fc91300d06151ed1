"""People's own mail accounts from the chat: ``/email connect|status|rules|presets|quiet|
channel|disconnect``.

One function, ``EmailAdmin.run``, behind the slash commands. Everything it does is for the
person who runs it, found the way the rest of Clara finds them (their user row by platform
and platform user id, as the mail tools and the account actors do): a command can only ever
name, show or change **their own** accounts. An account is named by its address, or needs no
name when the person has one.

- ``connect`` checks every option, refuses hosts Clara may not reach (``connect.py``), then
  logs in and examines INBOX before anything is saved; the password is stored only encrypted
  and is never echoed, logged, audited or given to the model (the model's mail tools cannot
  connect accounts). Connecting an address again updates it. ``provider:NAME`` hands over to
  the OAuth sign-in (``OAuthConnector``) instead.
- ``channel to:here`` sends the account's alerts to the channel the command is run in, and
  only a server channel the person is in: anyone who can read it sees the alerts, and the
  reply says so. ``to:dm`` makes them private again.
- ``disconnect`` asks for ``confirm:True``, stops watching, and deletes the account with its
  rules, alerts and secrets.
- Each person may run ``ops_per_minute`` commands a minute, and ``connects_per_hour``
  connects an hour (each a login tried with a password: a way to guess passwords, so it
  gets the tighter limit). Every change, done, refused or failed, is written to the audit
  log with the person's platform id, never the password.

The account actors read their settings when they start: after a change the ``on_changed``
hook restarts the account's actor, ``on_connected`` starts (or restarts) it, and
``on_disconnected`` stops it. They are injected, so this class runs alone in tests.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from ...adapters.chat import Author
from ...adapters.email import EmailError, ImapEndpoint, ImapSession, open_session
from ...errors import ClaraError
from ...store import (
    Database,
    EmailAccountSummary,
    SecretBox,
    StoredEmailAccount,
    connect_email_account,
    delete_email_account,
    person_email_accounts,
    user_time_zone,
)
from ...supervisors import DynamicSupervisor
from .. import ActorStatistics
from ..policy import UserRates, write_audit
from .account_settings import channel_command, preset_command, quiet_command, rules_command
from .connect import (
    OAuthConnector,
    Resolver,
    check_address,
    check_host,
    check_login,
    parse_connect,
    resolve_host,
)
from .replies import EmailCommandError, EmailCommandFailed, account_status, plain_failure
from .rule_edits import presets_text

__all__ = ["OPERATIONS", "AccountHook", "EmailAdmin", "account_statistics"]

logger = logging.getLogger(__name__)

OPERATIONS: dict[str, str] = {
    "connect": "connect a mail account of yours (tested before it is saved)",
    "status": "your mail accounts and how each is doing",
    "rules": "which mail of an account is alerted, and how urgently",
    "presets": "ready-made rules (job hunting, security, ...)",
    "quiet": "quiet hours in your time zone: alerts wait for one digest",
    "channel": "alerts here or in your DMs, with a ping or not",
    "disconnect": "stop watching an account and delete it (asks to confirm)",
}

#: ``hook(account_id)``: what the rest of Clara does when an account changes.
AccountHook = Callable[[int], Awaitable[None]]


async def _nothing(account_id: int) -> None:
    return None


def account_statistics(accounts: DynamicSupervisor) -> Callable[[int], ActorStatistics | None]:
    """``/email status``'s view of the running account actors (``EmailSystem.accounts``)."""

    def statistics(account_id: int) -> ActorStatistics | None:
        if accounts.get(account_id) is None:
            return None
        found: ActorStatistics = accounts.statistics_of(account_id)
        return found

    return statistics


@dataclass
class _Call:
    """One command being run, and what its audit record will say."""

    operation: str
    options: dict[str, Any]
    author: Author
    platform: str
    channel_id: str
    guild_id: str | None
    target: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def who(self) -> str:
        return f"{self.platform}:{self.author.id}"


def _text(options: dict[str, Any], name: str) -> str:
    value = options.get(name)
    return "" if value is None else str(value).strip()


def _safe_details(options: dict[str, Any]) -> dict[str, str]:
    """The options for the audit log: never the password, each value cut short."""
    return {
        key: str(value)[:200]
        for key, value in options.items()
        if key != "password" and value is not None and value != ""
    }


class EmailAdmin:
    """The ``/email`` commands, their checks, their audit.

    Args:
        database: the store.
        secrets: encrypts the passwords saved.
        connect: opens an IMAP session (the account actors' own, ``open_session``).
        limiter: bounds the connection tests' worker threads (share the accounts' one).
        imap_timeout: seconds a connection test may take.
        on_connected: an account was saved (new, or updated: restart it if it runs).
        on_changed: its rules, alert channel, ping or quiet hours changed (restart it).
        on_disconnected: it is about to be deleted (stop watching it).
        statistics: the running account actor's statistics, or None when it is not running
            (``account_statistics(email.accounts)``).
        oauth: the OAuth sign-in, or None when it is not configured.
        ops_per_minute: commands one person may run a minute.
        connects_per_hour: connects one person may try an hour (OAuth sign-ins included).
        private_hosts: allow servers on this machine or a private network, and plain IMAP
            to them (tests, self-hosted setups); otherwise only TLS to internet hosts.
        resolve: a host name's addresses (the system resolver; tests pass their own).
    """

    def __init__(
        self,
        database: Database,
        secrets: SecretBox,
        *,
        connect: Callable[[ImapEndpoint], ImapSession] = open_session,
        limiter: trio.CapacityLimiter | None = None,
        imap_timeout: float = 30.0,
        on_connected: AccountHook = _nothing,
        on_changed: AccountHook = _nothing,
        on_disconnected: AccountHook = _nothing,
        statistics: Callable[[int], ActorStatistics | None] | None = None,
        oauth: OAuthConnector | None = None,
        ops_per_minute: int = 20,
        connects_per_hour: int = 5,
        private_hosts: bool = False,
        resolve: Resolver = resolve_host,
    ) -> None:
        if isinstance(imap_timeout, bool) or not isinstance(imap_timeout, int | float):
            raise TypeError(f"imap_timeout must be a number of seconds; got {imap_timeout!r}")
        if not imap_timeout > 0:
            raise ValueError(f"imap_timeout must be positive; got {imap_timeout!r}")
        for name, value in (
            ("ops_per_minute", ops_per_minute),
            ("connects_per_hour", connects_per_hour),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1; got {value!r}")
        self.database = database
        self.secrets = secrets
        self.connect = connect
        self.limiter = limiter if limiter is not None else trio.CapacityLimiter(4)
        self.imap_timeout = float(imap_timeout)
        self.on_connected = on_connected
        self.on_changed = on_changed
        self.on_disconnected = on_disconnected
        self.statistics = statistics
        self.oauth = oauth
        self.ops_per_minute = ops_per_minute
        self.connects_per_hour = connects_per_hour
        self.private_hosts = private_hosts
        self.resolve = resolve
        self.rates = UserRates()
        self.connect_rates = UserRates()

    # -- the one entry -------------------------------------------------------------------------

    async def run(
        self,
        name: str,
        options: dict[str, Any],
        author: Author,
        *,
        platform: str,
        channel_id: str,
        guild_id: str | None,
    ) -> str:
        """Run ``/email NAME`` for ``author``; the text to show them (only to them)."""
        if name not in OPERATIONS:
            return f"There is no /email {name}; try one of: {', '.join(OPERATIONS)}."
        call = _Call(name, dict(options), author, platform, channel_id, guild_id)
        call.target = _text(options, "account") or _text(options, "address")
        call.details = _safe_details(options)
        changes = _is_change(name, options)
        password = str(options.get("password") or "")
        try:
            self._take_rates(call)
            answer = await self._do(call)
        except EmailCommandFailed as failure:
            answer = _scrubbed(str(failure), password)
            if changes:
                await self._audit(call, "failed", {"reason": answer[:300]})
            return answer
        except EmailCommandError as refusal:
            answer = _scrubbed(str(refusal), password)
            if changes:
                await self._audit(call, "refused", {"reason": answer[:300]})
            return answer
        if changes:
            await self._audit(call, "done", {})
        return _scrubbed(answer, password)

    def _take_rates(self, call: _Call) -> None:
        """Spend one of the person's commands."""
        verdict = self.rates.take(
            call.who, trio.current_time(), per_minute=self.ops_per_minute, notice_interval=0.0
        )
        if verdict != "ok":
            raise EmailCommandError(
                f"Too many /email commands: {self.ops_per_minute} a minute at most. "
                "Try again in a moment."
            )

    def _take_connect_rate(self, call: _Call) -> None:
        """Spend one of the person's connects (just before a login is tried)."""
        # UserRates counts per minute: on a clock 60 times slower, that is per hour.
        verdict = self.connect_rates.take(
            call.who,
            trio.current_time() / 60.0,
            per_minute=self.connects_per_hour,
            notice_interval=0.0,
        )
        if verdict != "ok":
            raise EmailCommandError(
                f"Too many connection attempts: {self.connects_per_hour} an hour at most "
                "(each one tries a password). Try again later."
            )

    async def _audit(self, call: _Call, outcome: str, extra: dict[str, Any]) -> None:
        await write_audit(
            self.database,
            actor=call.who,
            action=f"email.{call.operation}",
            target=call.target,
            outcome=outcome,
            details={**call.details, **extra},
        )

    async def _do(self, call: _Call) -> str:
        if call.operation == "connect":
            return await self._connect(call)
        if call.operation == "presets" and not _text(call.options, "preset"):
            return presets_text()
        summaries = await self.database.run(person_email_accounts, call.platform, call.author.id)
        if call.operation == "status":
            return await self._status(call, summaries)
        account = _pick(summaries, _text(call.options, "account")).account
        call.target = account.address
        if call.operation == "disconnect":
            return await self._disconnect(call, account)
        return await self._settings(call, account)

    # -- connect -------------------------------------------------------------------------------

    async def _connect(self, call: _Call) -> str:
        provider = _text(call.options, "provider").lower()
        if provider:
            return await self._connect_oauth(call, provider)
        request = parse_connect(call.options)
        call.target = request.address
        call.details = request.audit_details()
        await check_host(
            request,
            private_hosts=self.private_hosts,
            resolve=self.resolve,
            timeout=self.imap_timeout,
        )
        endpoint = ImapEndpoint(
            host=request.host,
            port=request.port,
            username=request.user,
            password=request.password,
            use_tls=request.use_tls,
            timeout=self.imap_timeout,
        )
        self._take_connect_rate(call)
        try:
            mailbox = await check_login(endpoint, connect=self.connect, limiter=self.limiter)
        except EmailError as error:
            reason = plain_failure(str(error))
            logger.info("email connect by %s to %s refused: %s", call.who, endpoint.label, reason)
            raise EmailCommandFailed(
                f"Could not connect {request.address}: {reason} "
                f"({request.host}:{request.port}; nothing was saved)."
            ) from None
        saved = await self.database.write(
            connect_email_account,
            self.secrets,
            platform=call.platform,
            platform_user_id=call.author.id,
            display_name=call.author.name,
            address=request.address,
            imap_host=request.host,
            imap_port=request.port,
            username=request.user,
            password=request.password,
            use_tls=request.use_tls,
        )
        call.details["account_id"] = saved.id
        call.details["created"] = saved.created
        logger.info(
            "email account %s %s by %s (%s)",
            saved.id,
            "connected" if saved.created else "updated",
            call.who,
            endpoint.label,
        )
        trouble = await self._hook(self.on_connected, saved.id, "start watching it")
        place = f"{request.host}:{request.port}{'' if request.use_tls else ', without TLS'}"
        if not saved.created:
            note = (
                " The server or login changed, so only mail arriving from now on counts as new."
                if saved.mailbox_changed
                else ""
            )
            return (
                f"Updated {request.address} ({place}): the new login works, INBOX has "
                f"{mailbox.exists} messages.{note}{trouble}"
            )
        return (
            f"Connected {request.address} ({place}): INBOX has {mailbox.exists} messages. New "
            "mail from now on is alerted in your DMs (change that with /email channel). Choose "
            "which mail matters with /email rules or /email presets; without rules every "
            f"message is alerted.{trouble}"
        )

    async def _connect_oauth(self, call: _Call, provider: str) -> str:
        if self.oauth is None:
            raise EmailCommandError("OAuth sign-in is not configured here.")
        if call.options.get("password"):
            raise EmailCommandError(
                f"password: not used with provider:{provider}: you sign in on the provider's own "
                "page, and Clara never sees your password. Run the command again without it."
            )
        known = self.oauth.providers()
        chosen = next((name for name in known if name.lower() == provider), None)
        if chosen is None:
            raise EmailCommandError(
                f"provider: {provider[:40]!r} is not configured here; configured: "
                f"{', '.join(known) or 'none'}"
            )
        address = _text(call.options, "address") or _text(call.options, "user")
        if not address:
            raise EmailCommandError(
                "address: required with provider: the address to sign in (name@example.com)"
            )
        address = check_address(address)
        call.target = address
        self._take_connect_rate(call)
        try:
            return await self.oauth.start(
                platform=call.platform,
                user_id=call.author.id,
                display_name=call.author.name,
                provider=chosen,
                address=address,
                alert_channel_id=None,
            )
        except ClaraError as error:
            raise EmailCommandFailed(f"Could not start the {provider} sign-in: {error}") from None

    # -- status and settings -------------------------------------------------------------------

    async def _status(self, call: _Call, summaries: list[EmailAccountSummary]) -> str:
        if not summaries:
            return "You have no mail accounts connected. Connect one with /email connect."
        wanted = _text(call.options, "account")
        shown = [_pick(summaries, wanted)] if wanted else summaries
        zone = await self.database.run(user_time_zone, call.platform, call.author.id)
        return "\n".join(
            account_status(
                summary,
                self.statistics(summary.account.id) if self.statistics is not None else None,
                zone,
                call.platform,
            )
            for summary in shown
        )

    async def _settings(self, call: _Call, account: StoredEmailAccount) -> str:
        """``rules``, ``presets``, ``quiet`` and ``channel``; a change restarts the actor."""
        options, changed = call.options, True
        if call.operation == "rules":
            answer, changed = await rules_command(self.database, account, options)
        elif call.operation == "presets":
            answer = await preset_command(self.database, account, _text(options, "preset"))
        elif call.operation == "quiet":
            zone = await self.database.run(user_time_zone, call.platform, call.author.id)
            answer, changed = await quiet_command(
                self.database, account, _text(options, "hours"), zone
            )
        else:
            answer, changed = await channel_command(
                self.database,
                account,
                options,
                channel_id=call.channel_id,
                guild_id=call.guild_id,
                details=call.details,
            )
        if changed:
            answer += await self._hook(self.on_changed, account.id, "apply the change")
        return answer

    # -- disconnect ----------------------------------------------------------------------------

    async def _disconnect(self, call: _Call, account: StoredEmailAccount) -> str:
        if call.options.get("confirm") is not True:
            raise EmailCommandError(
                f"This stops watching {account.address} and deletes it with its rules and "
                "alerts, for good. Run /email disconnect again with confirm:True to go ahead."
            )
        trouble = await self._hook(self.on_disconnected, account.id, "stop watching it")
        deleted = await self.database.write(delete_email_account, account.id)
        if not deleted:
            raise EmailCommandError("That account is no longer connected.")
        logger.info("email account %s disconnected by %s", account.id, call.who)
        return f"Disconnected {account.address}: Clara no longer watches it.{trouble}"

    async def _hook(self, hook: AccountHook, account_id: int, what: str) -> str:
        """Run a hook; a failure is logged and told (what was saved stays saved)."""
        try:
            await hook(account_id)
        except Exception as error:  # the hook is the rest of Clara: its failure is a note here
            logger.warning("email account %s: could not %s: %s", account_id, what, error)
            return f" (Clara could not {what} just now; it will at its next start.)"
        return ""


def _is_change(name: str, options: dict[str, Any]) -> bool:
    """Whether ``/email NAME`` with these options changes anything (and is audited)."""
    if name in ("connect", "disconnect"):
        return True
    if name == "rules":
        return _text(options, "action").lower() not in ("", "list")
    if name == "presets":
        return bool(_text(options, "preset"))
    if name == "quiet":
        return bool(_text(options, "hours"))
    if name == "channel":
        return bool(_text(options, "to") or _text(options, "ping"))
    return False


def _pick(summaries: list[EmailAccountSummary], wanted: str) -> EmailAccountSummary:
    """The person's account named ``wanted`` (any case), or their only one."""
    addresses = ", ".join(summary.account.address for summary in summaries)
    if not summaries:
        raise EmailCommandError(
            "You have no mail accounts connected. Connect one with /email connect."
        )
    if not wanted:
        if len(summaries) == 1:
            return summaries[0]
        raise EmailCommandError(
            f"You have {len(summaries)} accounts ({addresses}): say which with account:…"
        )
    for summary in summaries:
        if summary.account.address.lower() == wanted.lower():
            return summary
    raise EmailCommandError(f"account: you have no account {wanted[:80]!r}; yours: {addresses}")


def _scrubbed(text: str, password: str) -> str:
    """``text`` without the password in it, whatever put it there."""
    if len(password) >= 4 and password in text:
        return text.replace(password, "****")
    return text
