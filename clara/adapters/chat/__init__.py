"""Chat platforms as Clara sees them: messages in, a transport to answer through."""

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
    "Author",
    "ChatTransport",
    "MessageReceived",
    "nonce_for",
    "split_message",
]
