"""Chat platforms as Clara sees them: messages in, a transport to answer through."""

from ._attachments import AttachmentLimits, ReadAttachments, read_attachments
from ._outgoing_files import fit_files
from ._types import (
    DISCORD_LIMIT,
    Attachment,
    Author,
    ChatTransport,
    MessageReceived,
    nonce_for,
    split_message,
)

__all__ = [
    "DISCORD_LIMIT",
    "Attachment",
    "AttachmentLimits",
    "Author",
    "ChatTransport",
    "MessageReceived",
    "ReadAttachments",
    "fit_files",
    "nonce_for",
    "read_attachments",
    "split_message",
]
