"""What can go wrong talking to an IMAP server, in Clara's error tree.

::

    ClaraError
    └── EmailError
        ├── ImapUnavailable     the server cannot be reached, the connection dropped or a
        │                       command timed out: the account actor crashes and is restarted
        ├── ImapLoginRefused    the server refused the credentials: an error for the owner,
        │                       never a crash loop
        └── ImapProtocolError   the server answered something unusable (no INBOX, a NO/BAD)

Messages name the account (``user@host:port``) and the problem, never the password.
"""

from __future__ import annotations

from ...errors import ClaraError

__all__ = ["EmailError", "ImapLoginRefused", "ImapProtocolError", "ImapUnavailable"]


class EmailError(ClaraError):
    """Something about an email account failed."""


class ImapUnavailable(EmailError):
    """The IMAP server could not be reached or the connection was lost (retry later)."""


class ImapLoginRefused(EmailError):
    """The server refused the login: the password (or user name) is wrong."""


class ImapProtocolError(EmailError):
    """The server answered, but not as IMAP allows or as the account needs."""
