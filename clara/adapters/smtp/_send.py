"""Handing one message to an SMTP server, on the standard library's smtplib: blocking.

``send_message`` connects (TLS from the start, STARTTLS, or plain as the endpoint says),
logs in when the endpoint has a user, hands the message over for exactly the recipients
given (never the ones its headers name: a header cannot add a recipient), and says QUIT.
Run it in a worker thread; every wait is bounded by the endpoint's timeout.

smtplib's and the socket's errors become the adapter's own (``_errors``), split by what the
caller should do: try again later (``SmtpUnavailable``), fix the settings
(``SmtpLoginRefused``) or give up on this message (``SmtpRefused``).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage

from ._errors import SmtpError, SmtpLoginRefused, SmtpRefused, SmtpUnavailable
from ._types import SmtpEndpoint

__all__ = ["send_message"]

logger = logging.getLogger(__name__)


def send_message(
    endpoint: SmtpEndpoint,
    message: EmailMessage,
    *,
    sender: str,
    recipients: Sequence[str],
    tls: ssl.SSLContext | None = None,
) -> None:
    """Hand ``message`` to the server for ``recipients``, from ``sender`` (the envelope).

    Args:
        tls: how the server's certificate is checked (default: the system's trust store,
            host name checked). Never used with ``plain``.

    Raises:
        SmtpUnavailable: the server cannot be reached or answered 4xx, or the connection
            failed or timed out; also when ``starttls`` is asked for and the server does not
            offer it (the message is never sent in the clear instead).
        SmtpLoginRefused: the login was refused, or the server offers none.
        SmtpRefused: the server answered 5xx to the sender, a recipient or the message.
        ValueError: no recipient.
    """
    if not recipients:
        raise ValueError("send_message needs at least one recipient")
    label = endpoint.label
    context = tls or ssl.create_default_context()
    try:
        if endpoint.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                endpoint.host, endpoint.port, timeout=endpoint.timeout, context=context
            )
        else:
            client = smtplib.SMTP(endpoint.host, endpoint.port, timeout=endpoint.timeout)
    except (OSError, EOFError, smtplib.SMTPException) as error:
        raise SmtpUnavailable(
            f"{label}: cannot connect: {type(error).__name__}: {error}"
        ) from error
    try:
        with client:  # QUIT on the way out, whatever happened
            _hand_over(client, endpoint, message, sender=sender, recipients=recipients, tls=context)
    except SmtpError:
        raise
    except smtplib.SMTPAuthenticationError as error:
        if 400 <= error.smtp_code < 500:
            raise SmtpUnavailable(
                f"{label}: the server cannot log anyone in just now: {_answer(error)}"
            ) from error
        raise SmtpLoginRefused(
            f"{label}: the server refused the login (wrong user name or password): {_answer(error)}"
        ) from error
    except smtplib.SMTPNotSupportedError as error:
        raise SmtpLoginRefused(
            f"{label}: the server offers no login (AUTH); set CLARA_MAILROOM_SMTP_AUTH=false "
            f"if it needs none: {error}"
        ) from error
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        answers = "; ".join(
            f"{who}: {code} {_text(text)}" for who, (code, text) in error.recipients.items()
        )
        if codes and all(400 <= code < 500 for code in codes):
            raise SmtpUnavailable(f"{label}: recipient deferred: {answers}") from error
        raise SmtpRefused(f"{label}: recipient refused: {answers}") from error
    except smtplib.SMTPResponseException as error:
        # SMTPSenderRefused, SMTPDataError, SMTPHeloError and other coded answers.
        if 400 <= error.smtp_code < 500:
            raise SmtpUnavailable(f"{label}: the server deferred: {_answer(error)}") from error
        raise SmtpRefused(f"{label}: the server refused: {_answer(error)}") from error
    except (OSError, EOFError, smtplib.SMTPException) as error:
        raise SmtpUnavailable(
            f"{label}: the connection failed: {type(error).__name__}: {error}"
        ) from error


def _hand_over(
    client: smtplib.SMTP,
    endpoint: SmtpEndpoint,
    message: EmailMessage,
    *,
    sender: str,
    recipients: Sequence[str],
    tls: ssl.SSLContext,
) -> None:
    client.ehlo()
    if endpoint.security == "starttls":
        if not client.has_extn("starttls"):
            raise SmtpUnavailable(
                f"{endpoint.label}: the server does not offer STARTTLS; the message is not "
                "sent in the clear"
            )
        client.starttls(context=tls)
        client.ehlo()
    if endpoint.username:
        client.login(endpoint.username, endpoint.password)
    refused = client.send_message(message, from_addr=sender, to_addrs=list(recipients))
    if refused:  # some recipients refused, others taken: never the case with one
        who = ", ".join(sorted(refused))
        raise SmtpRefused(f"{endpoint.label}: recipients refused: {who}")
    logger.debug("smtp %s: handed over for %d recipient(s)", endpoint.label, len(recipients))


def _text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return " ".join(text.split())[:300]


def _answer(error: smtplib.SMTPResponseException) -> str:
    return f"{error.smtp_code} {_text(error.smtp_error)}"
