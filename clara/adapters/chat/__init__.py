"""Chat platforms as Clara sees them: messages in, a transport to answer through."""

from ._attachments import AttachmentLimits, ReadAttachments, read_attachments
from ._embeds import (
    EMBED_LIMITS,
    Embed,
    EmbedField,
    EmbedTransport,
    Pings,
    embed_text,
    fit_embed,
)
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
    "EMBED_LIMITS",
    "Attachment",
    "AttachmentLimits",
    "Author",
    "ChatTransport",
    "Embed",
    "EmbedField",
    "EmbedTransport",
    "MessageReceived",
    "Pings",
    "ReadAttachments",
    "embed_text",
    "fit_embed",
    "fit_files",
    "nonce_for",
    "read_attachments",
    "split_message",
]
