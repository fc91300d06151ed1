"""What can go wrong handing a message to an SMTP server, in Clara's error tree.

::

    ClaraError
    └── SmtpError
        ├── SmtpUnavailable     the server cannot be reached, the connection dropped, a
        │                       command timed out, or it answered 4xx (try again later);
        │                       also a server that does not offer the TLS asked for (the
        │                       message is never sent in the clear instead)
        ├── SmtpLoginRefused    the server refused the login (the settings must change)
        └── SmtpRefused         the server refused this message for good (5xx: a recipient
                                or sender it will not take, a message it rejects)

Messages name the server (``user@host:port``) and its answer, never the password.
"""

from __future__ import annotations

from ...errors import ClaraError

__all__ = ["SmtpError", "SmtpLoginRefused", "SmtpRefused", "SmtpUnavailable"]


class SmtpError(ClaraError):
    """Handing a message to the SMTP server failed."""


class SmtpUnavailable(SmtpError):
    """The server could not take the message now: try again later."""


class SmtpLoginRefused(SmtpError):
    """The server refused the login: the user name or password in the settings is wrong."""


class SmtpRefused(SmtpError):
    """The server refused this message for good: sending it again changes nothing."""
