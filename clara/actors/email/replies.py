"""How ``/email`` speaks to people: its refusal type; failures, times and states in words.

An account's failures reach the store (``last_error``) and the commands as the IMAP
adapter's messages (``user@host:port: cannot connect: ConnectionRefusedError: ...``): exact,
but written for logs. ``plain_failure`` turns one into a sentence a person can act on
("nothing answers on port 993 at imap.example.com: check the host and the port"). The
adapter's messages never hold a password, and the sentences here quote none of the server's
own words for a refused login, so nothing a server echoes can reach a reply either.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ...store import EmailAccountSummary
from .. import ActorState, ActorStatistics

__all__ = ["EmailCommandError", "EmailCommandFailed", "account_status", "plain_failure", "when"]


class EmailCommandError(ValueError):
    """A command refused: bad input, not the person's account, not allowed. The message is
    what the person sees, and names the option at fault."""


class EmailCommandFailed(EmailCommandError):
    """A command that was allowed but did not work (the server refused the login, could not
    be reached): audited as ``failed``, not ``refused``."""


#: (pattern in an adapter's message, the sentence a person reads), first match wins.
_FAILURES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"refused the login"),
        "the server refused the login: the user name or the password is wrong. (Some "
        "providers, such as Gmail and Outlook, take only an app password or an OAuth "
        "sign-in.)",
    ),
    (
        re.compile(r"cannot log anyone in just now"),
        "the server cannot log anyone in just now (its sign-in service is down): try again later",
    ),
    (
        re.compile(r"gaierror|Name or service not known|nodename nor servname|No address"),
        "no server by that name was found: check the host",
    ),
    (
        re.compile(r"ConnectionRefusedError|Connection refused"),
        "nothing answers on that port of the server: check the host and the port",
    ),
    (
        re.compile(r"CERTIFICATE_VERIFY_FAILED|SSLCertVerificationError|certificate", re.I),
        "the server's TLS certificate could not be verified (it may be self-signed, expired, "
        "or made out to another name)",
    ),
    (
        re.compile(r"SSL|TLS|WRONG_VERSION_NUMBER", re.I),
        "the secure (TLS) connection failed: check the port and the tls option (993 is IMAP "
        "over TLS)",
    ),
    (
        re.compile(r"timed out|no answer within|TimeoutError", re.I),
        "the server did not answer in time",
    ),
    (
        re.compile(r"Network is unreachable|No route to host|Host is unreachable"),
        "the server cannot be reached from here (no route to it)",
    ),
    (
        re.compile(r"unusable greeting|SELECT INBOX gave|refused select_inbox"),
        "the server answered, but not as an IMAP server with an INBOX should",
    ),
    (
        re.compile(r"connection failed during|EOF|abort|reset by peer", re.I),
        "the connection was lost",
    ),
)


def plain_failure(message: str | None) -> str:
    """An IMAP adapter's error message as a sentence for a person (lower case, no final
    stop); ``""`` for None."""
    if not message:
        return ""
    for pattern, sentence in _FAILURES:
        if pattern.search(message):
            return sentence
    return "something went wrong talking to the server"


def when(moment: dt.datetime | None, platform: str) -> str:
    """A moment for a reply: on Discord a timestamp each reader sees in their own time zone,
    elsewhere UTC. ``"never"`` for None."""
    if moment is None:
        return "never"
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    if platform == "discord":
        return f"<t:{int(aware.timestamp())}:f>"
    return aware.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _state(enabled: bool, status: str, error: str | None, stats: ActorStatistics | None) -> str:
    """An account's state in words: its running actor's, else what the store last heard."""
    if not enabled:
        return "turned off"
    details: dict[str, Any] = (stats.details if stats is not None else None) or {}
    reason = plain_failure(details.get("error") or error)
    if stats is not None and stats.state is ActorState.BACKING_OFF:
        backoff = stats.backoff
        wait = (
            f" in {backoff.next_start_in:.0f} s"
            if backoff is not None and backoff.next_start_in is not None
            else ""
        )
        return f"backing off, reconnecting{wait}" + (f" (last error: {reason})" if reason else "")
    live = details.get("state")
    if live is None:
        if status == "error":
            return f"in error: {reason or 'unknown'}"
        return "not watched just now (it starts with Clara)"
    words = {
        "idle": "idle (waiting for mail with IMAP IDLE)",
        "polling": "polling (the server has no IDLE)",
        "connecting": "connecting",
        "starting": "starting",
        "disabled": "turned off",
        "failing": f"having trouble: {reason}",
        "error": f"in error: {reason}",
        "retrying_slowly": f"in error, retrying slowly: {reason}",
    }
    return words.get(str(live), str(live))


def account_status(
    summary: EmailAccountSummary, stats: ActorStatistics | None, zone: str, platform: str
) -> str:
    """One account for ``/email status``: its state (``stats``: its running actor's
    statistics, None when it is not running), newest mail, alert destination, ping, quiet
    hours (``zone``: the owner's time zone) and rules."""
    account = summary.account
    signs_in = (
        f"signs in with {account.oauth_provider}"
        if account.auth_method == "oauth2"
        else ("TLS" if account.use_tls else "no TLS")
    )
    where = f"<#{account.alert_channel_id}>" if account.alert_channel_id else "your DMs"
    quiet = (
        f"{account.quiet_start}-{account.quiet_end} ({zone})"
        if account.quiet_start and account.quiet_end
        else "none"
    )
    rules = (
        f"{summary.rules} ({summary.enabled_rules} on)"
        if summary.rules
        else "none (every new message is alerted)"
    )
    state = _state(account.enabled, account.status, account.last_error, stats)
    return "\n".join(
        [
            f"{account.address} ({account.imap_host}:{account.imap_port}, {signs_in})",
            f"- state: {state}",
            f"- newest mail seen: {when(account.newest_seen_at, platform)}; last alert: "
            f"{when(account.last_mail_at, platform)}",
            f"- alerts: {where}, ping {'on' if account.ping_owner else 'off'}",
            f"- quiet hours: {quiet}",
            f"- rules: {rules}",
        ]
    )
