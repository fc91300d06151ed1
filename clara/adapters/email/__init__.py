"""IMAP, the outside side of email accounts: connect, log in, watch INBOX, fetch new mail.

Built on imapclient (synchronous: its calls run in worker threads behind one limiter shared
by every account; IDLE waits take no thread). ``open_session(endpoint)`` gives an
``ImapSession``; ``search_inbox`` / ``read_inbox_message`` look at INBOX for the model's
mail tools; errors are ``ImapUnavailable`` (retry), ``ImapLoginRefused`` (tell the
owner) and ``ImapProtocolError``, all ``EmailError``. An endpoint with an access token logs
in with XOAUTH2; ``oauth_providers(settings.email)`` gives the OAuth providers configured.
"""

from ._errors import EmailError, ImapLoginRefused, ImapProtocolError, ImapUnavailable
from ._oauth import BUILT_IN_PROVIDERS, OAuthProvider, oauth_providers
from ._parse import SNIPPET_BYTES, SNIPPET_CHARS, decode_snippet, has_attachments, text_part
from ._reading import (
    MailAttachment,
    MailMessage,
    MailSearch,
    read_inbox_message,
    safe_search_words,
    search_inbox,
)
from ._session import FETCH_BATCH, ImapSession, open_session
from ._types import FetchedMail, ImapEndpoint, MailboxState

__all__ = [
    "BUILT_IN_PROVIDERS",
    "FETCH_BATCH",
    "SNIPPET_BYTES",
    "SNIPPET_CHARS",
    "EmailError",
    "FetchedMail",
    "ImapEndpoint",
    "ImapLoginRefused",
    "ImapProtocolError",
    "ImapSession",
    "ImapUnavailable",
    "MailAttachment",
    "MailMessage",
    "MailSearch",
    "MailboxState",
    "OAuthProvider",
    "decode_snippet",
    "has_attachments",
    "oauth_providers",
    "open_session",
    "read_inbox_message",
    "safe_search_words",
    "search_inbox",
    "text_part",
]
