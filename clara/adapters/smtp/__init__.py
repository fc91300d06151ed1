"""SMTP, the way out of Clara's own inbox: hand one approved reply to a mail server.

Built on the standard library's smtplib (blocking: run ``send_message`` in a worker thread).
``SmtpEndpoint`` says where and as whom (STARTTLS, TLS from the start, or plain); errors are
``SmtpUnavailable`` (retry later), ``SmtpLoginRefused`` (fix the settings) and
``SmtpRefused`` (this message will never go), all ``SmtpError``.
"""

from ._errors import SmtpError, SmtpLoginRefused, SmtpRefused, SmtpUnavailable
from ._send import send_message
from ._types import SECURITY, SmtpEndpoint

__all__ = [
    "SECURITY",
    "SmtpEndpoint",
    "SmtpError",
    "SmtpLoginRefused",
    "SmtpRefused",
    "SmtpUnavailable",
    "send_message",
]
