"""One IMAP connection, on imapclient: blocking calls, meant for worker threads.

Every method blocks on the network and must run in a worker thread (the account actor uses
``run_blocking`` behind one limiter shared by all accounts); none may be called from two
threads at once. The one exception is waiting for the server during IDLE, which takes no
thread at all: ``start_idle`` returns, the trio side waits for ``socket()`` to become
readable (``trio.lowlevel.wait_readable``, cancelled at once when the account stops), then
``idle_check`` reads what arrived. ``close`` may be called from any thread to wake a call
blocked on the socket.

imapclient's and the socket's errors become ``ImapUnavailable`` (the connection is gone or
too slow), ``ImapLoginRefused`` (wrong credentials) and ``ImapProtocolError`` (a NO/BAD, an
unusable answer); their messages name the account, never the password.

An endpoint with an OAuth access token logs in with AUTHENTICATE XOAUTH2 (imapclient's
``oauth2_login``) instead of LOGIN; a refused token is ``ImapLoginRefused`` like a refused
password (the account actor refreshes it once and tries again before telling the owner).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import socket
import ssl
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

import imapclient  # type: ignore[import-untyped]  # ships no type information
from imapclient.exceptions import (  # type: ignore[import-untyped]
    IMAPClientAbortError,
    IMAPClientError,
    LoginError,
)

from ._errors import ImapLoginRefused, ImapProtocolError, ImapUnavailable
from ._parse import SNIPPET_BYTES, decode_snippet, fetched_mail, text_part
from ._types import FetchedMail, ImapEndpoint, MailboxState

__all__ = ["FETCH_BATCH", "ImapSession", "open_session"]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

#: Messages fetched per FETCH command (a long disconnection is caught up in batches).
FETCH_BATCH = 100

# Untagged responses that only say the connection is alive (dovecot's "* OK Still here").
_KEEPALIVES = frozenset({b"OK"})


def _temporary(error: Exception) -> bool:
    """A refused LOGIN that says nothing of the password: the server's auth service is down
    or starting (RFC 5530's UNAVAILABLE / SERVERBUG; dovecot's "Temporary authentication
    failure"), or the connection broke meanwhile. Retried like a lost connection, not
    reported as a wrong password."""
    if isinstance(error.__context__, IMAPClientAbortError | OSError | EOFError):
        return True  # the connection broke during LOGIN: imapclient calls that a LoginError
    text = str(error).upper()
    return any(mark in text for mark in ("[UNAVAILABLE]", "[SERVERBUG]", "TEMPORARY"))


def _mapped(method: Callable[P, T]) -> Callable[P, T]:
    """Translate imapclient's and the socket's errors into the adapter's own."""

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        session = args[0]
        assert isinstance(session, ImapSession)
        try:
            return method(*args, **kwargs)
        except (ImapUnavailable, ImapLoginRefused, ImapProtocolError):
            raise
        except LoginError as error:
            if _temporary(error):
                raise ImapUnavailable(
                    f"{session.label}: the server cannot log anyone in just now: {error}"
                ) from error
            raise ImapLoginRefused(
                f"{session.label}: the server refused the login (wrong user name or "
                f"{session.credential}): {error}"
            ) from error
        except (IMAPClientAbortError, OSError, EOFError) as error:
            raise ImapUnavailable(
                f"{session.label}: the connection failed during {method.__name__}: "
                f"{type(error).__name__}: {error}"
            ) from error
        except IMAPClientError as error:
            raise ImapProtocolError(
                f"{session.label}: the server refused {method.__name__}: {error}"
            ) from error

    return call


class ImapSession:
    """A logged-in connection with INBOX selected (after ``select_inbox``).

    ``credential`` names what it logs in with, in a refusal's message (``password``, or
    ``access token`` for XOAUTH2).
    """

    def __init__(
        self, client: imapclient.IMAPClient, label: str, *, credential: str = "password"
    ) -> None:
        self.client = client
        self.label = label
        self.credential = credential
        self.idling = False

    # -- life ---------------------------------------------------------------------------------

    def socket(self) -> socket.socket:
        """The connection's socket: wait on it being readable while idling, nothing else."""
        sock: socket.socket = self.client.socket()
        return sock

    def close(self) -> None:
        """Drop the connection now, without a LOGOUT round trip; a call blocked on the
        socket in another thread wakes with an error. Never raises."""
        with contextlib.suppress(Exception):
            self.client.socket().shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            self.client.shutdown()

    @_mapped
    def logout(self) -> None:
        """Say goodbye properly (a planned stop), then close."""
        try:
            self.client.logout()
        finally:
            self.close()

    # -- the mailbox --------------------------------------------------------------------------

    @_mapped
    def select_inbox(self) -> MailboxState:
        """SELECT INBOX (read-only: reading alerts must not change flags)."""
        answer = self.client.select_folder("INBOX", readonly=True)
        try:
            uidvalidity = int(answer[b"UIDVALIDITY"])
            exists = int(answer.get(b"EXISTS", 0))
            uidnext = answer.get(b"UIDNEXT")
            if uidnext is None:  # optional before IMAP4rev2: ask for it
                status = self.client.folder_status("INBOX", [b"UIDNEXT"])
                uidnext = status[b"UIDNEXT"]
        except (KeyError, TypeError, ValueError) as error:
            raise ImapProtocolError(
                f"{self.label}: SELECT INBOX gave no usable UIDVALIDITY/UIDNEXT ({error})"
            ) from error
        return MailboxState(
            uidvalidity=uidvalidity,
            uidnext=int(uidnext),
            exists=exists,
            can_idle=self.client.has_capability("IDLE"),
        )

    @_mapped
    def noop(self) -> None:
        """A round trip: proves the connection alive (and lets the server report news)."""
        self.client.noop()

    @_mapped
    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above ``last_uid``, ascending. (``n:*`` always includes the highest message,
        even below ``n``: filtered here.)"""
        found = self.client.search(["UID", f"{last_uid + 1}:*"])
        return sorted(uid for uid in found if uid > last_uid)

    @_mapped
    def uids_since(self, since: dt.datetime) -> list[int]:
        """UIDs of messages the server received after ``since`` (SEARCH SINCE has day
        granularity: the day is searched, INTERNALDATE decides in ``fetch``)."""
        day = (since.astimezone(dt.UTC) - dt.timedelta(days=1)).date()
        return sorted(self.client.search(["SINCE", day]))

    @_mapped
    def fetch(self, uids: Sequence[int]) -> list[FetchedMail]:
        """Envelope, INTERNALDATE, structure and a bounded snippet of each message, by UID
        order. Messages gone meanwhile (expunged) are left out."""
        mails: list[FetchedMail] = []
        ordered = sorted(set(uids))
        for start in range(0, len(ordered), FETCH_BATCH):
            batch = ordered[start : start + FETCH_BATCH]
            answer = self.client.fetch(batch, [b"ENVELOPE", b"INTERNALDATE", b"BODYSTRUCTURE"])
            snippets = self._snippets(answer)
            mails.extend(
                fetched_mail(uid, answer[uid], snippets.get(uid, ""))
                for uid in batch
                if uid in answer
            )
        return mails

    def _snippets(self, answer: dict[int, dict[bytes, Any]]) -> dict[int, str]:
        """The start of each message's first text part: one FETCH per distinct section."""
        by_section: dict[str, list[tuple[int, str, str, str]]] = {}
        for uid, data in answer.items():
            found = text_part(data.get(b"BODYSTRUCTURE"))
            if found is not None:
                section, subtype, encoding, charset = found
                by_section.setdefault(section, []).append((uid, subtype, encoding, charset))
        snippets: dict[int, str] = {}
        for section, wanted in by_section.items():
            item = f"BODY.PEEK[{section}]<0.{SNIPPET_BYTES}>"
            key = f"BODY[{section}]<0>".encode()
            bodies = self.client.fetch([uid for uid, *_ in wanted], [item.encode()])
            for uid, subtype, encoding, charset in wanted:
                raw = bodies.get(uid, {}).get(key)
                if isinstance(raw, bytes):
                    snippets[uid] = decode_snippet(raw, subtype, encoding, charset)
        return snippets

    # -- IDLE ---------------------------------------------------------------------------------

    @_mapped
    def start_idle(self) -> bool:
        """Enter IDLE. Returns True when the server's next words are already buffered here
        (then do not wait on the socket: ``idle_check`` at once)."""
        self.client.idle()
        self.idling = True
        return self.has_buffered_input()

    def has_buffered_input(self) -> bool:
        """Whether bytes wait in imaplib's or TLS's buffers, where a readable-socket wait
        cannot see them."""
        sock = self.client.socket()
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        reader = getattr(self.client._imap, "file", None)
        if reader is None or not hasattr(reader, "peek"):
            return False
        timeout = sock.gettimeout()
        sock.setblocking(False)
        try:
            return bool(reader.peek(1))
        except (BlockingIOError, ssl.SSLWantReadError, ValueError, OSError):
            return False
        finally:
            sock.settimeout(timeout)

    @_mapped
    def idle_check(self) -> tuple[bool, list[Any]]:
        """Read what the server said during IDLE without waiting.

        Returns:
            (news, responses): ``news`` is False when every response was a keepalive (keep
            idling); True when something changed, or when nothing could be read although
            the socket was readable (the server closed it: ``end_idle`` will tell).
        """
        responses = list(self.client.idle_check(timeout=0))
        news = not responses or any(
            not (isinstance(response, tuple) and response and response[0] in _KEEPALIVES)
            for response in responses
        )
        return news, responses

    @_mapped
    def end_idle(self) -> None:
        """Leave IDLE (DONE, and wait for its OK): raises if the connection is gone."""
        self.idling = False
        self.client.idle_done()


def open_session(endpoint: ImapEndpoint) -> ImapSession:
    """Connect (TLS or not) and log in. Blocking.

    Raises:
        ImapUnavailable: the server cannot be reached, or did not answer in time.
        ImapLoginRefused: the credentials were refused.
        ImapProtocolError: the server's greeting or answers were unusable.
    """
    label = endpoint.label
    timeout = imapclient.SocketTimeout(connect=endpoint.timeout, read=endpoint.timeout)
    try:
        client = imapclient.IMAPClient(
            endpoint.host,
            port=endpoint.port,
            ssl=endpoint.use_tls,
            ssl_context=ssl.create_default_context() if endpoint.use_tls else None,
            timeout=timeout,
        )
    except (IMAPClientAbortError, OSError, EOFError) as error:
        raise ImapUnavailable(
            f"{label}: cannot connect: {type(error).__name__}: {error}"
        ) from error
    except IMAPClientError as error:
        raise ImapProtocolError(f"{label}: unusable greeting: {error}") from error
    # Aware INTERNALDATEs (imapclient would make them naive local times).
    client.normalise_times = False
    if endpoint.access_token is not None:
        session = ImapSession(client, label, credential="access token")
    else:
        session = ImapSession(client, label)
    try:
        if endpoint.access_token is not None:
            _oauth2_login(session, endpoint.username, endpoint.access_token)
        else:
            _login(session, endpoint.username, endpoint.password)
    except BaseException:
        session.close()
        raise
    return session


@_mapped
def _login(session: ImapSession, username: str, password: str) -> None:
    session.client.login(username, password)


@_mapped
def _oauth2_login(session: ImapSession, username: str, access_token: str) -> None:
    """AUTHENTICATE XOAUTH2 (the server's answer to a bad token is a LoginError, mapped to
    ``ImapLoginRefused``; its text is the server's, never the token)."""
    session.client.oauth2_login(username, access_token)
