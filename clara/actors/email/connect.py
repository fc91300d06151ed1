"""``/email connect``: its options checked, the server tried, OAuth handed over.

A password account is saved only after Clara has logged in with it and examined INBOX
(read-only), through the same ``connect`` the account actors use, in a worker thread behind
a limiter and within the IMAP timeout. What can go wrong is said in plain words
(``plain_failure``) and nothing is saved.

Where Clara may connect: only to mail servers on the internet, over TLS, unless the
operator allows private hosts (``private_hosts``: a server on this machine or the local
network, where plain IMAP may be allowed too). Otherwise ``/email connect`` would let anyone
probe the machines around Clara ("nothing answers on that port" is an answer), and a
password could cross the network readable.

The password is only ever in ``ConnectRequest.password`` (whose ``repr`` hides it) and the
``ImapEndpoint`` handed to ``connect``: never in a message, a log line or an audit record.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Callable
from typing import Any, Protocol

import msgspec
import trio

from ...adapters.email import EmailError, ImapEndpoint, ImapSession, ImapUnavailable, MailboxState
from ...adapters.network import Resolver, host_is_private, resolve_host
from .replies import EmailCommandError, EmailCommandFailed, plain_failure

__all__ = [
    "ConnectRequest",
    "OAuthConnector",
    "Resolver",
    "check_address",
    "check_host",
    "check_login",
    "parse_connect",
    "resolve_host",
]

#: Longest accepted values (the store's columns allow these).
MAX_HOST = 253
MAX_USER = 320
MAX_PASSWORD = 1024

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_ADDRESS = re.compile(r"[^@\s<>\"(),;:]{1,64}@[A-Za-z0-9.-]{1,253}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class OAuthConnector(Protocol):
    """Connecting an account that signs in with OAuth (IMAP XOAUTH2): the provider's page,
    then tokens Clara keeps encrypted. ``/email connect provider:NAME`` hands over to it."""

    def providers(self) -> list[str]:
        """The providers configured here (e.g. ``["google", "microsoft"]``)."""
        ...

    async def start(
        self,
        *,
        platform: str,
        user_id: str,
        display_name: str,
        provider: str,
        address: str,
        alert_channel_id: str | None,
    ) -> str:
        """Begin signing ``address`` in with ``provider`` for that person; the text to show
        them (with the link to open). The account is saved when the sign-in completes."""
        ...


class ConnectRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A checked ``/email connect`` for a password account."""

    address: str
    host: str
    port: int
    use_tls: bool
    user: str
    password: str

    def __repr__(self) -> str:
        return (
            f"ConnectRequest(address={self.address!r}, host={self.host!r}, port={self.port!r}, "
            f"use_tls={self.use_tls!r}, user={self.user!r}, password=***)"
        )

    __str__ = __repr__

    def audit_details(self) -> dict[str, Any]:
        """What the audit log keeps: everything but the password."""
        return {
            "address": self.address,
            "host": self.host,
            "port": self.port,
            "tls": self.use_tls,
            "user": self.user,
        }


def _text(options: dict[str, Any], name: str) -> str:
    value = options.get(name)
    return "" if value is None else str(value).strip()


def check_address(text: str, option: str = "address") -> str:
    """``text`` as a mail address, or a refusal naming ``option``."""
    if len(text) > MAX_USER or not _ADDRESS.fullmatch(text):
        raise EmailCommandError(
            f"{option}: {text[:80]!r} is not a mail address (like name@example.com)"
        )
    return text


def _host(text: str) -> str:
    if not text:
        raise EmailCommandError("host: required: the IMAP server, e.g. imap.fastmail.com")
    if "://" in text or "/" in text:
        raise EmailCommandError(
            f"host: give only the server's name (e.g. imap.example.com), not a URL; got "
            f"{text[:80]!r}"
        )
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        pass
    if text.count(":") == 1:
        raise EmailCommandError(
            f"host: put the port in the port option, not in the host; got {text[:80]!r}"
        )
    name = text.rstrip(".").lower()
    if len(name) > MAX_HOST or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise EmailCommandError(
            f"host: {text[:80]!r} is not a server name (letters, digits, hyphens and dots)"
        )
    return name


def _port(value: Any) -> int:
    if value is None or value == "":
        return 993
    try:
        port = int(str(value).strip())
    except ValueError:
        raise EmailCommandError(f"port: must be a whole number; got {str(value)[:20]!r}") from None
    if not 1 <= port <= 65535:
        raise EmailCommandError(
            f"port: must be between 1 and 65535 (IMAP over TLS is 993); got {port}"
        )
    return port


def _tls(value: Any) -> bool:
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise EmailCommandError(f"tls: must be True or False; got {str(value)[:20]!r}")


def parse_connect(options: dict[str, Any]) -> ConnectRequest:
    """The options of ``/email connect`` for a password account, checked.

    Raises:
        EmailCommandError: an option is missing or malformed (the message names it, and
            never quotes the password).
    """
    host = _host(_text(options, "host"))
    port = _port(options.get("port"))
    use_tls = _tls(options.get("tls"))
    user = _text(options, "user")
    if not user:
        raise EmailCommandError("user: required: the name you log in with (often your address)")
    if len(user) > MAX_USER or _CONTROL.search(user):
        raise EmailCommandError(
            f"user: at most {MAX_USER} characters and no control characters (line breaks, tabs)"
        )
    raw = options.get("password")
    password = "" if raw is None else str(raw)
    if not password:
        raise EmailCommandError(
            "password: required for a password account (or sign in with provider:…)"
        )
    if len(password) > MAX_PASSWORD or _CONTROL.search(password):
        raise EmailCommandError(
            f"password: at most {MAX_PASSWORD} characters and no control characters "
            "(line breaks, tabs)"
        )
    address = _text(options, "address")
    if address:
        address = check_address(address)
    elif _ADDRESS.fullmatch(user):
        address = user
    else:
        raise EmailCommandError(
            f"address: your login name {user[:80]!r} is not a mail address: give the account's "
            "address too (address:name@example.com)"
        )
    return ConnectRequest(
        address=address, host=host, port=port, use_tls=use_tls, user=user, password=password
    )


async def check_host(
    request: ConnectRequest, *, private_hosts: bool, resolve: Resolver, timeout: float
) -> None:
    """Refuse a server Clara may not connect to (see the module's doc).

    Raises:
        EmailCommandError: a private or local host (without ``private_hosts``), or plain IMAP
            to a server on the internet.
        EmailCommandFailed: the name does not resolve.
    """
    host = request.host
    if private_hosts:
        return
    if not request.use_tls:
        raise EmailCommandError(
            "tls: Clara signs in only over TLS (without it your password crosses the network "
            "readable): use tls:True, usually with port 993"
        )
    refusal = EmailCommandError(
        f"host: {host} is on a private or local network; Clara connects only to mail "
        "servers on the internet"
    )
    try:
        private = await host_is_private(host, request.port, resolve=resolve, timeout=timeout)
    except (OSError, trio.TooSlowError) as error:
        raise EmailCommandFailed(
            f"Could not connect {request.address}: {plain_failure('gaierror')} "
            f"({host}; nothing was saved)."
        ) from error
    if private:
        raise refusal


async def check_login(
    endpoint: ImapEndpoint,
    *,
    connect: Callable[[ImapEndpoint], ImapSession],
    limiter: trio.CapacityLimiter,
) -> MailboxState:
    """Log in and examine INBOX (read-only), then log out: the test before an account is
    saved. Runs in a worker thread behind ``limiter``, within ``endpoint.timeout`` (at the
    deadline the connection is closed, which wakes the thread).

    Raises:
        EmailError: the adapter's error (refused login, unreachable, TLS, protocol), or
            ``ImapUnavailable`` at the deadline.
    """
    opened: list[ImapSession] = []

    def work() -> MailboxState:
        session = connect(endpoint)
        opened.append(session)
        try:
            mailbox = session.select_inbox()
            with contextlib.suppress(EmailError):  # a failed goodbye: the login still worked
                session.logout()
            return mailbox
        finally:
            session.close()

    finished = False
    try:
        with trio.fail_after(endpoint.timeout):
            mailbox = await trio.to_thread.run_sync(work, limiter=limiter, abandon_on_cancel=True)
        finished = True
    except trio.TooSlowError:
        raise ImapUnavailable(
            f"{endpoint.label}: no answer within {endpoint.timeout:g} s"
        ) from None
    finally:
        if not finished:
            for session in opened:  # wakes an abandoned thread
                session.close()
    return mailbox
